"""Shared fixtures: spec builders, paths to ../shared data, CLI runner."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusterctl.config.render import Rendered, render
from clusterctl.config.spec import ClusterSpec
from clusterctl.providers import get_provider
from clusterctl.providers.local.processes import free_port  # noqa: F401  (re-exported for the tests)
from clusterctl.workdir import Workdir
from tests.support.files_server import server  # noqa: F401  (the fixture, for every test module)

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CLUSTERCTL_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
CONF_CHECK = SHARED / "tools" / "hadoop-conf-check.py"


def aws_spec(core: str = "m5.xlarge", count: int = 2, master: str = "m5.xlarge", **extra) -> dict:
    """A minimal valid ec2 spec as a dict."""
    spec = {
        "name": "tc",
        "provider": "ec2",
        "node_groups": {"master": {"instance_type": master}, "core": {"instance_type": core, "count": count}},
    }
    spec.update(extra)
    return spec


def local_spec(workers: int = 2, cores: int = 1, memory_gib: float = 2, **extra) -> dict:
    """A minimal valid local spec as a dict."""
    spec = {
        "name": "tc",
        "provider": "local",
        "node_groups": {
            "master": {"instance_type": "local", "cores": 1, "memory_gib": 2},
            "core": {"instance_type": "local", "count": workers, "cores": cores, "memory_gib": memory_gib},
        },
    }
    spec.update(extra)
    return spec


def render_spec(spec: ClusterSpec, workdir: Workdir) -> Rendered:
    """Render ``spec`` into ``workdir`` through its provider, as `clusterctl render` does."""
    return render(get_provider(spec, workdir))


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m clusterctl ARGS`` as a user would, capturing output."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "clusterctl", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when this checkout has no shared data beside it."""
    if not DATA.is_dir():
        pytest.skip(f"real images not available: {DATA} is missing (set CLUSTERCTL_SHARED)")
    return DATA
