"""Running pip for the nodes' platform, isolated from this machine's pip configuration.

A developer's or CI's pip may carry a global config (find-links, extra indexes, a constraints file)
and ``PIP_*`` variables. None of that may leak into a lock or a wheelhouse: where packages come from
is only what the caller passes here.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from packaging.version import Version

from clusterctl.errors import ClusterctlError

# glibc 2.28 (Amazon Linux 2023, EMR 7, Debian 10+, Ubuntu 20.04+) runs every older manylinux wheel.
# pip does not widen a manylinux_2_28 --platform to the older tags by itself, so the list names each.
DEFAULT_PLATFORMS: tuple[str, ...] = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)),
    "manylinux2014_x86_64",  # pip widens this one to manylinux2010 and manylinux1
)
DEFAULT_PYTHON = "3.11"
MIN_PIP = Version("22.2")  # the first pip whose --report records each file's URL and sha256


def pip_env() -> dict[str, str]:
    """This process's environment without ``PIP_*`` variables, and with no pip config file."""
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def python_tag(python_version: str) -> str:
    """``3.11`` -> ``311`` (the cp311 interpreter and ABI tags)."""
    major, _, minor = python_version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ClusterctlError(f"python version {python_version!r} is not MAJOR.MINOR; pass e.g. 3.11")
    return major + minor


def target_args(platforms: Sequence[str], python_version: str) -> list[str]:
    """pip options that pick files for the nodes' platform and CPython, not for this machine."""
    tag = python_tag(python_version)
    args = [arg for platform in platforms for arg in ("--platform", platform)]
    return [*args, "--python-version", python_version, "--implementation", "cp", "--abi", f"cp{tag}"]


def target_environment(python_version: str) -> dict[str, str]:
    """The PEP 508 marker environment of a node (linux x86_64, CPython ``python_version``)."""
    return {
        "implementation_name": "cpython",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "sys_platform": "linux",
    }


def source_args(index_url: str | None, extra_index_urls: Sequence[str], find_links: Sequence[str]) -> list[str]:
    """pip options naming where packages come from; nothing given means pip's default, PyPI."""
    args = ["--index-url", index_url] if index_url else []
    args += [arg for url in extra_index_urls for arg in ("--extra-index-url", url)]
    return args + [arg for place in find_links for arg in ("--find-links", place)]


def run_pip(args: Sequence[str], on_line: Callable[[str], None], what: str, fix: str) -> None:
    """Run ``python -m pip ARGS`` with ``pip_env()``, handing each output line to ``on_line``.

    A failure raises one line: ``what`` failed, pip's own last error, and ``fix``.
    """
    have = Version(metadata.version("pip"))
    if have < MIN_PIP:
        upgrade = f"{sys.executable} -m pip install -U 'pip>={MIN_PIP}'"
        raise ClusterctlError(f"pip {have} cannot write resolution reports; run `{upgrade}`")
    argv = [sys.executable, "-m", "pip", *args, "--no-input", "--disable-pip-version-check"]
    lines: list[str] = []
    with subprocess.Popen(
        argv, env=pip_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            lines.append(line)
            on_line(line)
    if proc.returncode != 0:
        errors = [line.strip() for line in lines if line.strip().startswith("ERROR:")]
        cause = errors[-1] if errors else next((line for line in reversed(lines) if line.strip()), "no output")
        raise ClusterctlError(f"{what} failed: {cause.removeprefix('ERROR: ')}; {fix}")
