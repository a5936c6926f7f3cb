"""The warm driver: one long-lived Spark driver that runs bundled jobs on request, one at a time.

    spark-submit --conf spark.python.daemon.module=workloads.common.warm_daemon \
        workloads/common/warm_driver.py --socket PATH --state PATH [--executors N]

A cold ``submit`` pays a spark-submit launcher, a driver JVM, executor JVMs, Python workers that import
torch and load the model, and cold JIT paths, before any image is read. Here all of that is paid once:
the driver starts, waits for ``--executors`` executors, runs a warm-up task per core (which starts each
executor's Python daemon, ``warm_daemon``: torch and the model are loaded there once and every Python
worker is forked from it), rehearses the fruits job on a few generated images (JIT and class loading of
every path a job takes), writes ``--state`` (JSON: pid, app id, socket, start time) and then serves
requests on the Unix socket ``--socket`` (mode 0600: only its owner can submit).

A request is one JSON line ``{"job": "fruits", "args": [...], "run_dir": DIR, "cwd": DIR}``; the job's module in
``workloads.jobs`` runs its ``main(args)`` in a new session of the driver's (``job.shared_session``) in the
client's ``cwd``; its stdout and stderr are streamed back as ``{"out": line}`` lines (and written to
``DIR/stdout.txt``), and the last line is ``{"exit": code}``. A client that hangs up cancels its job.
``{"op": "stop"}`` stops the driver.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import select
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workloads.common.job import shared_session
from workloads.jobs import JOBS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

EXECUTOR_WAIT_S = 180.0


def parser() -> argparse.ArgumentParser:
    """Command-line options of the warm driver."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--socket", required=True, type=Path, help="Unix socket to serve requests on")
    p.add_argument("--state", required=True, type=Path, help="JSON file written once the driver is ready")
    p.add_argument("--executors", type=int, default=1, help="executors to wait for before serving")
    return p


def _pid(batches: Iterator) -> Iterator:
    """A warm-up task's ``mapInPandas`` body: the pid of the Python worker that ran it."""
    import pandas as pd

    for _ in batches:
        pass
    yield pd.DataFrame({"pid": [os.getpid()]})


def _warm_up(spark: SparkSession, slots: int) -> list[int]:
    """One task per core through a Python worker (starting each executor's daemon); the workers' pids."""
    df = spark.range(0, slots, 1, slots).mapInPandas(_pid, "pid long")
    return sorted({row["pid"] for row in df.collect()})


def _rehearse(spark: SparkSession) -> float:
    """Run the fruits job once on a few generated images: every code path a job takes (listing, Arrow,
    Spark ML's fit, parquet writers, matplotlib and t-SNE in the driver) is loaded and compiled before the
    first real job. A failure is logged, not fatal. Its seconds."""
    import numpy as np
    from PIL import Image

    start = time.monotonic()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="clusterctl-warm-") as tmp:
        for label in ("a", "b", "c"):
            (Path(tmp) / "in" / label).mkdir(parents=True)
            for i in range(4):
                pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(Path(tmp) / "in" / label / f"{i}.jpg")
        argv = ["--input", f"{tmp}/in", "--output", f"{tmp}/out", "--k", "2", "--tsne-sample", "12"]
        try:
            with shared_session(spark), contextlib.redirect_stdout(sys.stderr):
                importlib.import_module("workloads.jobs.fruits").main(argv)
        except Exception:
            traceback.print_exc()
    return round(time.monotonic() - start, 3)


def _wait_executors(spark: SparkSession, wanted: int) -> int:
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + EXECUTOR_WAIT_S
    while True:
        have = len(tracker.getExecutorInfos()) - 1  # the driver is listed too
        if have >= wanted or time.monotonic() > deadline:
            return have
        time.sleep(0.2)


class _Client(io.TextIOBase):
    """The job's stdout: each line to the run's stdout.txt and, as ``{"out": line}``, to the client."""

    def __init__(self, conn: socket.socket, copy: io.TextIOBase) -> None:
        self.conn, self.copy, self.pending, self.gone = conn, copy, "", False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.copy.write(text)
        self.copy.flush()
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.send({"out": line})
        return len(text)

    def send(self, message: dict[str, Any]) -> None:
        if not self.gone:
            try:
                self.conn.sendall((json.dumps(message) + "\n").encode())
            except OSError:
                self.gone = True


@contextlib.contextmanager
def _watch_hangup(conn: socket.socket, spark: SparkSession, group: str) -> Iterator[None]:
    """Cancel the job group ``group`` if the client hangs up (an interrupted ``clusterctl submit``)."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            readable, _, _ = select.select([conn], [], [], 0.5)
            if not readable:
                continue
            try:
                hung_up = conn.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                hung_up = True
            if hung_up:
                spark.sparkContext.cancelJobGroup(group)
                return
            time.sleep(0.5)  # the client sent something it should not have: ignore it

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _run(spark: SparkSession, request: dict[str, Any], conn: socket.socket) -> int:
    """Run one job request; its exit code."""
    entry = JOBS.get(request.get("job", ""))
    run_dir = Path(request["run_dir"])
    group = run_dir.name
    # As under spark-submit, where the Python driver's stderr joins its stdout: the job's last word is there.
    with (
        (run_dir / "stdout.txt").open("w") as copy,
        (run_dir / "driver.log").open("w") as log,
    ):
        out = _Client(conn, copy)
        print(f"warm driver pid {os.getpid()}, app {spark.sparkContext.applicationId}, job group {group}", file=log)
        if entry is None:
            out.write(f"warm driver: unknown job {request.get('job')!r}; jobs: {', '.join(sorted(JOBS))}\n")
            out.send({"exit": 2})
            return 2
        spark.sparkContext.setJobGroup(group, f"{request['job']} ({group})", interruptOnCancel=True)
        cwd = os.getcwd()
        try:
            os.chdir(request.get("cwd", cwd))  # relative --input/--output mean what the user typed
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), _watch_hangup(conn, spark, group):
                try:
                    code = importlib.import_module(f"workloads.jobs.{entry.module}").main(list(request.get("args", [])))
                except SystemExit as exc:  # argparse's errors (usage, exit code 2)
                    code = exc.code if isinstance(exc.code, int) else 1
                except Exception:  # a job's crash must not end the driver: the client gets exit code 1
                    traceback.print_exc()
                    code = 1
        finally:
            os.chdir(cwd)
            spark.catalog.clearCache()  # what a job persisted and did not unpersist
        if out.pending:
            out.send({"out": out.pending})
        print(f"{request['job']} exited {code}", file=log)
        out.send({"exit": code})
    return code


def serve(spark: SparkSession, sock: socket.socket) -> None:
    """Answer requests, one at a time, until a stop request."""
    while True:
        conn, _ = sock.accept()
        with conn:
            line = conn.makefile("r").readline()
            request = json.loads(line) if line.strip() else {}
            if request.get("op") == "stop":
                conn.sendall(b'{"stopped": true}\n')
                return
            if request.get("op") == "ping":
                conn.sendall(b'{"pong": true}\n')
                continue
            with shared_session(spark):
                _run(spark, request, conn)


def main(argv: list[str] | None = None) -> int:
    """Start the session, warm it up, write the state file, serve until stopped."""
    args = parser().parse_args(argv)
    from pyspark.sql import SparkSession

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # SIGTERM: stop Spark cleanly on the way out
    start = time.time()
    spark = SparkSession.builder.appName("clusterctl-warm-driver").getOrCreate()
    try:
        executors = _wait_executors(spark, args.executors)
        slots = spark.sparkContext.defaultParallelism
        workers = _warm_up(spark, slots)
        rehearsal = _rehearse(spark)
        args.socket.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # the socket is created 0600: only its owner may submit
        try:
            sock.bind(str(args.socket))
        finally:
            os.umask(old_mask)
        sock.listen(8)
        state = {
            "pid": os.getpid(),
            "app_id": spark.sparkContext.applicationId,
            "socket": str(args.socket),
            "executors": executors,
            "slots": slots,
            "python_workers": workers,
            "rehearsal_seconds": rehearsal,
            "started_at": start,
            "ready_seconds": round(time.time() - start, 3),
        }
        tmp = args.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state) + "\n")
        tmp.replace(args.state)
        with sock:
            serve(spark, sock)
    finally:
        args.socket.unlink(missing_ok=True)
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
