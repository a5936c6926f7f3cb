"""Local process bookkeeping: pid files, ownership checks, stopping process groups, ports."""

import contextlib
import os
import re
import signal
import socket
import time
from pathlib import Path


def _proc_strings(pid: int, what: str) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/{what}").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def carries(pid: int, env_entry: str) -> bool:
    """True when ``pid``'s environment holds ``env_entry`` (``NAME=value``).

    The environment survives ``exec`` and is inherited by children, so a daemon started through a
    wrapper script, and every executor it forks, can be told apart from unrelated processes.
    """
    return env_entry in _proc_strings(pid, "environ")


def is_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def owned_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in ``pid_file`` if that process is alive and its environment holds ``marker``.

    A pid file whose process is gone, or whose pid was reused by an unrelated process, is stale:
    it is removed and None returned.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return None
    if is_alive(pid) and marker in _settled_environ(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def _settled_environ(pid: int, wait: float = 2.0) -> list[str]:
    """``pid``'s environment entries, waiting out the instant of ``exec`` in which it reads as empty.

    ``Popen`` returns once the child's close-on-exec pipe closes, which the kernel does before it
    writes the new program's environment: a daemon checked right after its start shows none for a
    moment, and must not be taken for a stranger (its pid file would be removed while it runs).
    """
    deadline = time.monotonic() + wait
    while True:
        entries = [entry for entry in _proc_strings(pid, "environ") if entry]
        if entries or not is_alive(pid) or time.monotonic() > deadline:
            return entries
        time.sleep(0.01)


def find_processes(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (``NAME=value``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            pid = int(entry.name)
            if carries(pid, marker) and is_alive(pid):
                found.append(pid)
    return sorted(found)


def running_with(marker: str, argument: str) -> list[int]:
    """Pids of live processes of ``marker`` (see ``find_processes``) with ``argument`` on their command line."""
    return [pid for pid in find_processes(marker) if argument in _proc_strings(pid, "cmdline")]


def stop_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group led by ``pid`` (the daemon and the executors it forked), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not is_alive(pid):
                return
            time.sleep(0.1)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on ``host:port`` (or the port cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def busy_ports(ports: list[int], timeout: float = 5.0) -> list[int]:
    """Those of ``ports`` still in use after waiting up to ``timeout`` s (a just-stopped daemon's sockets,
    or a connection's ephemeral port, can outlive its process briefly)."""
    deadline = time.monotonic() + timeout
    while (busy := [p for p in ports if port_in_use(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return busy


def listener_pid(port: int) -> int | None:
    """Pid of the process listening on TCP ``port`` (from /proc; None when not found)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(parts[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        return int(proc.name)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_FAILURE = re.compile(r"\b(FATAL|ERROR)\b|Exception\b|^Error:|Could not find or load main class")


def log_tail(path: Path, lines: int = 3) -> str:
    """The log's last error line (a daemon's shutdown banner hides it) and its last lines, on one line."""
    try:
        text = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    errors = [line for line in text if _FAILURE.search(line) and "RECEIVED SIGNAL" not in line]
    shown = ([errors[-1], "..."] if errors and errors[-1] not in text[-lines:] else []) + text[-lines:]
    return " | ".join(shown) or "(empty log)"
