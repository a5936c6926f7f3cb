"""`status`, `logs`, `cost`, `submit` and `down` act on what the last render wrote and never rewrite the workdir;
a spec changed since is reported, not silently rendered under a running cluster."""

import json

import yaml

from clusterctl.providers.local.processes import free_port
from tests.conftest import aws_spec, local_spec, run_cli


def snapshot(root):
    """Every file under ``root`` with its bytes and modification time."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def test_local_read_only_commands_leave_the_workdir_as_rendered(tmp_path):
    data = local_spec(local={"master_port": free_port(), "webui_port": free_port()})
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(data))
    assert run_cli("render", cwd=tmp_path).returncode == 0
    workdir = tmp_path / ".clusterctl" / "tc"
    before = snapshot(workdir)
    assert (workdir / "render.json").is_file() and (workdir / "conf" / "spark-defaults.conf") in before
    for args in (["status", "--json"], ["logs"], ["cost", "--json"], ["down", "--json"]):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "changed since" not in proc.stderr
    assert snapshot(workdir) == before

    data["node_groups"]["core"]["count"] = 3  # the user edits the spec; nothing is re-rendered yet
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(data))
    proc = run_cli("status", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "cluster.yaml changed since tc was last rendered" in " ".join(proc.stderr.split())
    assert snapshot(workdir) == before
    assert run_cli("submit", "./missing.py", cwd=tmp_path).returncode == 2
    assert snapshot(workdir) == before

    assert run_cli("render", cwd=tmp_path).returncode == 0  # render applies it and the note goes away
    assert (workdir / "conf" / "workers").read_text().split() == ["127.0.0.1"] * 3
    proc = run_cli("status", cwd=tmp_path)
    assert proc.returncode == 0 and "changed since" not in proc.stderr


def test_aws_read_only_commands_touch_neither_workdir_nor_aws(tmp_path):
    data = aws_spec(count=2, provider="emr", versions={"emr_release": "emr-7.13.0"})
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(data))
    assert run_cli("render", cwd=tmp_path).returncode == 0
    workdir = tmp_path / ".clusterctl" / "tc"
    before = snapshot(workdir)
    # No terraform state yet: status and cost answer from the workdir, with no AWS endpoint reachable.
    env = {"CLUSTERCTL_AWS_ENDPOINT": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    status = run_cli("status", "--json", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "stopped"
    cost = run_cli("cost", "--json", cwd=tmp_path, env=env)
    assert cost.returncode == 0, cost.stderr
    assert json.loads(cost.stdout)["usd_per_hour_when_running"] > 0
    logs = run_cli("logs", cwd=tmp_path, env=env)
    assert logs.returncode == 1 and "no run" in logs.stderr
    assert snapshot(workdir) == before
    assert not (workdir / "terraform" / ".terraformrc").exists()
