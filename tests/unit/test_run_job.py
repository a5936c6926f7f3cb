"""workloads.common.job.run_job, the one job preamble, with a stand-in Spark session (no JVM)."""

import argparse
import sys

import pyspark.sql
import pytest

from workloads.common.job import JobContext, JobError, UsageError, run_job, shared_session


class _Session:
    """Records what happens to it; stopping also writes a line to stderr, to see what comes after it."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def stop(self) -> None:
        self.events.append("stop")
        print("(spark stopped)", file=sys.stderr)


class _Builder:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def appName(self, name: str) -> "_Builder":
        self.events.append(f"appName {name}")
        return self

    def getOrCreate(self) -> _Session:
        self.events.append("session")
        return _Session(self.events)


@pytest.fixture
def events(monkeypatch) -> list[str]:
    """What run_job did to Spark, in order."""
    log: list[str] = []
    monkeypatch.setattr(pyspark.sql.SparkSession, "builder", _Builder(log))
    return log


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="job")
    p.add_argument("--n", type=int, default=1)
    return p


def test_success_stops_spark_and_returns_0(events):
    seen: list[JobContext] = []

    def body(job: JobContext) -> None:
        job.timer.end("work_s")
        seen.append(job)

    assert run_job("the_job", _parser(), body, ["--n", "3"], app_name="the-job") == 0
    assert events == ["appName the-job", "session", "stop"]
    (job,) = seen
    assert (job.name, job.args.n, list(job.timer.seconds)) == ("the_job", 3, ["work_s"])


def test_a_job_error_is_the_last_line_after_spark_stopped(events, capsys):
    def body(job: JobContext) -> None:
        raise JobError(f"--n {job.args.n}: too few")

    assert run_job("the_job", _parser(), body, []) == 2
    assert events == ["session", "stop"]  # no appName: the name spark-submit --name gave
    assert capsys.readouterr().err.splitlines() == ["(spark stopped)", "the_job: --n 1: too few"]


def test_check_runs_before_spark(events, capsys):
    def check(args: argparse.Namespace) -> None:
        if args.n < 0:
            raise UsageError("--n must be at least 0")
        if args.n == 0:
            raise JobError("no weights for n = 0")

    def body(job: JobContext) -> None:
        raise AssertionError("never reached")

    assert run_job("the_job", _parser(), body, ["--n", "0"], check=check) == 2
    assert capsys.readouterr().err.splitlines() == ["the_job: no weights for n = 0"]
    with pytest.raises(SystemExit) as exited:
        run_job("the_job", _parser(), body, ["--n", "-1"], check=check)
    assert exited.value.code == 2  # argparse's own usage error
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("usage: job") and err[-1] == "job: error: --n must be at least 0"
    assert events == []  # no session was started


def test_other_exceptions_propagate(events):
    def body(job: JobContext) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_job("the_job", _parser(), body, [])


class _SharedSession(_Session):
    """The warm driver's session: a job gets a new session of it, which must never be stopped."""

    def newSession(self) -> _Session:
        self.events.append("newSession")
        return _Session(self.events)


def test_inside_the_warm_driver_a_job_runs_in_a_new_session_and_spark_keeps_running(events, capsys):
    shared = _SharedSession(events)
    sessions: list[object] = []

    def body(job: JobContext) -> None:
        sessions.append(job.spark)

    def failing(job: JobContext) -> None:
        raise JobError("--input x: no files")

    with shared_session(shared):  # type: ignore[arg-type]
        assert run_job("the_job", _parser(), body, [], app_name="ignored") == 0
        assert run_job("the_job", _parser(), failing, []) == 2
    assert events == ["newSession", "newSession"]  # no builder, no stop
    assert sessions and sessions[0] is not shared
    assert capsys.readouterr().err.splitlines() == ["the_job: --input x: no files"]
    assert run_job("the_job", _parser(), body, []) == 0  # outside the block: a session of its own again
    assert events[-2:] == ["session", "stop"]
