"""CLI surface: every command documents itself with an example; usage errors exit 2."""

import pytest
from click.testing import CliRunner

from clusterctl.cli import cli
from tests.conftest import run_cli


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", [(), *_commands(cli)], ids=lambda p: " ".join(p) or "clusterctl")
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "clusterctl" in result.output


def test_usage_errors_exit_2(tmp_path):
    proc = run_cli("up", "--no-such-flag", cwd=tmp_path)
    assert proc.returncode == 2 and "No such option" in proc.stderr
    proc = run_cli("frobnicate", cwd=tmp_path)
    assert proc.returncode == 2


def test_aws_up_without_public_key_fails_before_any_aws_call(tmp_path):
    (tmp_path / "cluster.yaml").write_text(
        "name: aws1\nprovider: ec2\nnode_groups:\n  master: {instance_type: m5.xlarge}\n"
        "  core: {instance_type: m5.xlarge}\nnetwork: {ssh_public_key: ./missing.pub}\n"
    )
    # An endpoint nothing listens on: any AWS call would fail with a different message.
    proc = run_cli("up", cwd=tmp_path, env={"CLUSTERCTL_AWS_ENDPOINT": "http://127.0.0.1:1"})
    assert proc.returncode == 1, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("error: network.ssh_public_key:") and "ssh-keygen" in error
    assert not (tmp_path / ".clusterctl" / "aws1" / "terraform" / "terraform.tfstate").exists()


def test_bench_faces_checks_its_options_before_starting_a_cluster(tmp_path):
    (tmp_path / "lfw" / "Ann").mkdir(parents=True)
    (tmp_path / "lfw" / "Ann" / "Ann_0001.jpg").write_bytes(b"not looked at before the checks")
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "pairs.txt").write_text("1\t0\n")
    base = ("bench", "faces", "--lfw", str(tmp_path / "lfw"), "--meta", str(tmp_path / "meta"), "--out", "out")
    cases = {
        ("--model", "facenet"): "--weights is required for facenet",
        ("--model", "facenet", "--weights", "nope.pt"): "--weights nope.pt: no such file",
        ("--name", "a/b"): "--name 'a/b': use letters",
        ("--lfw", str(tmp_path / "nope")): f"--lfw {tmp_path / 'nope'}: no such directory",
    }
    for extra, message in cases.items():
        proc = run_cli(*base, *extra, cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, (extra, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / ".clusterctl").exists()


def test_submit_help_lists_every_registered_job():
    from workloads.jobs import JOBS

    output = CliRunner().invoke(cli, ["submit", "--help"]).output
    listed = {line.split()[0] for line in output.splitlines() if line.startswith("    ") and line.split()}
    assert set(JOBS) <= listed
    for entry in JOBS.values():
        assert entry.summary in " ".join(output.split())
