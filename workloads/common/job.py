"""The one job preamble: options, a phase timer, the Spark session, one-line errors, the exit code.

A job module is its options, its body and ``sys.exit(main())``::

    def body(job: JobContext) -> None:
        src, out = io_uris(job.args)
        ...
        if nothing_to_do:
            raise JobError(f"--input {src}: nothing to do")  # printed as "<job>: <message>", exit code 2
        print(json.dumps(summary))


    def main(argv: list[str] | None = None) -> int:
        return run_job("faces_x", parser(), body, argv, app_name="faces-x")

``clusterctl submit`` shows the driver's last line of output when a job fails, so an error is printed after
the Spark session is stopped (stopping it logs).

Inside the warm driver (``workloads.common.warm_driver``) a job runs in a new session of the driver's
long-lived one (its own SQL settings and temporary views, the shared executors) that is left running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workloads.common.timing import PhaseTimer

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class JobError(Exception):
    """A user error the job reports in one line (a missing input, a bad option value); exit code 2."""


class UsageError(JobError):
    """Options that parse but do not go together, raised by a job's ``check``: reported like argparse's own
    errors (usage line, ``error: ...``, exit code 2)."""


@dataclass
class JobContext:
    """What a job's body gets: its name (the prefix of its error lines), options, session and timer.

    The timer starts before the session is built; a job that reports session start-up separately calls
    ``timer.end("session_s")`` first.
    """

    name: str
    args: argparse.Namespace
    spark: SparkSession
    timer: PhaseTimer


_shared: list[SparkSession] = []  # the warm driver's session while it runs a job in this process


@contextmanager
def shared_session(spark: SparkSession) -> Iterator[None]:
    """Within the block, ``run_job`` runs its body in ``spark.newSession()`` and leaves Spark running."""
    _shared.append(spark)
    try:
        yield
    finally:
        _shared.pop()


def _session(app_name: str | None) -> tuple[SparkSession, bool]:
    """The job's session and whether the job owns it (and stops it at the end)."""
    from pyspark.sql import SparkSession

    if _shared:
        return _shared[-1].newSession(), False
    builder = SparkSession.builder if app_name is None else SparkSession.builder.appName(app_name)
    return builder.getOrCreate(), True


def run_job(
    name: str,
    parser: argparse.ArgumentParser,
    body: Callable[[JobContext], None],
    argv: list[str] | None = None,
    *,
    app_name: str | None = None,
    check: Callable[[argparse.Namespace], None] | None = None,
) -> int:
    """Parse ``argv`` with ``parser``, start Spark, run ``body``, stop Spark; return the exit code.

    ``check(args)`` runs before the session starts, for what needs no Spark: it raises ``UsageError``
    (``parser.error``: usage, exit code 2) or ``JobError``. ``app_name`` names the session (default: the name
    spark-submit gave). A ``JobError`` stops Spark if it started, prints ``<name>: <message>`` to stderr as the
    last line and returns 2; success returns 0. Other exceptions propagate (a traceback, exit code 1).
    """
    args = parser.parse_args(argv)
    if check is not None:
        try:
            check(args)
        except UsageError as exc:
            parser.error(str(exc))
        except JobError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
    timer = PhaseTimer()
    spark, owned = _session(app_name)
    try:
        body(JobContext(name, args, spark, timer))
    except JobError as exc:
        if owned:
            spark.stop()
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    if owned:
        spark.stop()
    return 0
