"""SSH to the nodes with Fabric: commands (streamed), files both ways and port forwards.

Host keys: the cluster's own ``known_hosts`` in its workdir. The first contact with a node records its
key (new machines have keys nobody knows yet, as with OpenSSH's ``accept-new``); a key that changed
later is refused. Workers are reached through the master when ``Hosts.jump`` (EC2: they have no
public SSH), in one SSH session to the master shared by every worker.
"""

import contextlib
import io
import select
import shlex
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterctl.errors import ClusterctlError
from clusterctl.remote.hosts import Hosts, Node

CONNECT_TIMEOUT_S = 15


@dataclass(frozen=True)
class Outcome:
    """A finished remote command."""

    node: str
    exit_code: int
    stdout: str
    stderr: str


class _Lines(io.TextIOBase):
    """A write-only stream that hands complete lines to a callback (Invoke writes in chunks)."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__()
        self._sink = sink
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._sink(line)
        return len(text)

    def finish(self) -> None:
        """Hand on the last line when the output did not end with a newline."""
        if self._partial:
            self._sink(self._partial)
            self._partial = ""


def login_shell(command: str) -> str:
    """``command`` under ``bash -l``: /etc/profile.d/clusterctl.sh sets JAVA_HOME, SPARK_HOME and PATH."""
    return f"bash -lc {shlex.quote(command)}"


class Remote:
    """Open SSH sessions to a cluster's nodes (one per node, opened on first use); close with ``close()``."""

    def __init__(self, hosts: Hosts) -> None:
        self.hosts = hosts
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> "Remote":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connection(self, node: Node) -> Any:
        """The open ``fabric.Connection`` to ``node`` (workers through the master when ``jump``)."""
        from fabric import Config, Connection  # slow to import: only commands that reach nodes pay for it

        if node.name in self._connections:
            return self._connections[node.name]
        hosts = self.hosts
        gateway = self.connection(hosts.master) if hosts.jump and node.role != "master" else None
        key = {"key_filename": str(hosts.identity_file)} if hosts.identity_file else {}
        conn = Connection(
            node.address,
            user=hosts.user,
            port=hosts.port,
            gateway=gateway,
            connect_timeout=CONNECT_TIMEOUT_S,
            connect_kwargs=key | {"look_for_keys": not key, "allow_agent": not key},
            config=Config(lazy=True),  # not the user's ~/.ssh/config: the cluster's settings are all here
        )
        hosts.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        hosts.known_hosts.touch(mode=0o600, exist_ok=True)
        conn.client.load_host_keys(str(hosts.known_hosts))  # AutoAddPolicy then saves new keys there
        try:
            conn.open()
        except Exception as exc:  # paramiko/socket errors of many kinds: one line with the cause
            raise ClusterctlError(_connect_error(node, hosts, exc)) from None
        self._connections[node.name] = conn
        return conn

    def run(
        self,
        node: Node,
        command: str,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        timeout: float | None = None,
    ) -> Outcome:
        """Run ``command`` in a login shell on ``node``; stream its lines to the callbacks; never raise on exit code."""
        conn = self.connection(node)
        out = _Lines(on_stdout or (lambda _line: None))
        err = _Lines(on_stderr or (lambda _line: None))
        result = conn.run(
            login_shell(command),
            warn=True,
            hide=False,
            pty=False,
            in_stream=False,
            out_stream=out,
            err_stream=err,
            timeout=timeout,
        )
        out.finish()
        err.finish()
        return Outcome(node.name, result.exited, result.stdout, result.stderr)

    def put(self, node: Node, local: Path, remote: str) -> None:
        """Copy a local file to ``remote`` on ``node`` (a path relative to the login user's home)."""
        if not local.is_file():
            raise ClusterctlError(f"{local}: no such file to copy")
        self.connection(node).put(str(local), remote=remote)

    def get(self, node: Node, remote: str, local: Path) -> Path:
        """Copy ``remote`` from ``node`` to ``local`` (into it when it is a folder); returns the local path."""
        dest = local / Path(remote).name if local.is_dir() else local
        try:
            self.connection(node).get(remote, local=str(dest))
        except FileNotFoundError:
            raise ClusterctlError(f"{node.name}:{remote}: no such file") from None
        return dest

    @contextmanager
    def forward(
        self, node: Node, remote_port: int, local_port: int = 0, remote_host: str = "localhost"
    ) -> Iterator[int]:
        """Listen on 127.0.0.1:``local_port`` (0: any free port; the port is yielded) and carry each connection
        to ``remote_host:remote_port`` as seen from ``node`` (``ssh -L``), for the time of the block."""
        with self._listen(node, local_port, (remote_host, remote_port)) as port:
            yield port

    @contextmanager
    def socks(self, node: Node) -> Iterator[int]:
        """A SOCKS5 proxy on 127.0.0.1 (the port is yielded) whose connections leave from ``node`` (``ssh -D``):
        a Hadoop client reaches the NameNode and every DataNode at their private addresses through it."""
        with self._listen(node, 0, None) as port:
            yield port

    @contextmanager
    def _listen(self, node: Node, local_port: int, target: tuple[str, int] | None) -> Iterator[int]:
        """Serve 127.0.0.1:``local_port`` until the block ends: each client to ``target``, or where its SOCKS
        request says when ``target`` is None."""
        transport = self.connection(node).transport
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", local_port))
        except OSError as exc:
            listener.close()
            raise ClusterctlError(f"cannot listen on 127.0.0.1:{local_port} ({exc.strerror}); pick another") from None
        listener.listen(64)
        stop = threading.Event()
        thread = threading.Thread(target=_accept, args=(listener, transport, target, stop), daemon=True)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            stop.set()
            listener.close()
            thread.join(timeout=5)

    def close(self) -> None:
        """Close every session, workers before the master they go through."""
        for name in sorted(self._connections, key=lambda n: n == "master"):
            self._connections[name].close()
        self._connections.clear()


def _connect_error(node: Node, hosts: Hosts, exc: Exception) -> str:
    kind = type(exc).__name__
    via = " via the master" if hosts.jump and node.role != "master" else ""
    where = f"{hosts.user}@{node.address}:{hosts.port}{via}"
    if kind == "BadHostKeyException":
        return (
            f"{node.name} ({where}) presents another host key than the one recorded in {hosts.known_hosts}; if the "
            "machine was replaced, delete its line there, else do not connect"
        )
    if kind in ("AuthenticationException", "PasswordRequiredException") or "authentication" in str(exc).lower():
        return f"{node.name} ({where}) refused the key {hosts.identity_file}; check ssh.user and ssh.identity_file"
    return f"cannot reach {node.name} ({where}): {kind}: {exc}; is it running and is SSH allowed from here?"


def _accept(listener: socket.socket, transport: Any, target: tuple[str, int] | None, stop: threading.Event) -> None:
    """Accept local connections until ``stop``; each is served by its own thread."""
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            client, origin = listener.accept()
        except TimeoutError:
            continue
        except OSError:  # the listener was closed
            return
        threading.Thread(target=_serve, args=(client, origin, transport, target, stop), daemon=True).start()


def _serve(
    client: socket.socket, origin: Any, transport: Any, target: tuple[str, int] | None, stop: threading.Event
) -> None:
    """Open an SSH channel to ``target`` (or the SOCKS request's destination) and pump bytes through it."""
    client.settimeout(30)
    try:
        where = target or _socks_request(client)
        if where is None:
            client.close()
            return
        channel = transport.open_channel("direct-tcpip", where, origin)
    except Exception:  # the remote side refused, or a malformed SOCKS request: drop this client only
        if target is None:
            with contextlib.suppress(OSError):
                client.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")  # connection refused
        client.close()
        return
    if target is None:
        client.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")  # granted
    client.settimeout(None)
    _pump(client, channel, stop)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client closed during the SOCKS handshake")
        data += chunk
    return data


def _socks_request(client: socket.socket) -> tuple[str, int] | None:
    """Read a SOCKS5 greeting (no authentication) and CONNECT request; its destination, or None when unsupported."""
    version, methods = _exactly(client, 2)
    offered = _exactly(client, methods)
    if version != 5 or 0 not in offered:
        client.sendall(b"\x05\xff")
        return None
    client.sendall(b"\x05\x00")
    _, command, _, kind = _exactly(client, 4)
    if kind == 1:
        host = socket.inet_ntoa(_exactly(client, 4))
    elif kind == 3:
        host = _exactly(client, _exactly(client, 1)[0]).decode()
    elif kind == 4:
        host = socket.inet_ntop(socket.AF_INET6, _exactly(client, 16))
    else:
        return None
    port = int.from_bytes(_exactly(client, 2), "big")
    if command != 1:  # CONNECT only
        client.sendall(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
        return None
    return host, port


def _pump(client: socket.socket, channel: Any, stop: threading.Event) -> None:
    """Copy bytes both ways between a local socket and its SSH channel until either side closes."""
    with client, channel:
        while not stop.is_set():
            ready, _, _ = select.select([client, channel], [], [], 0.5)
            for source, sink in ((client, channel), (channel, client)):
                if source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    sink.sendall(data)
