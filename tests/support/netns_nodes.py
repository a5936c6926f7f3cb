"""Fake machines for multi-node integration tests: one real sshd per node, each in its own network, mount and
UTS namespace, so that a playbook run over SSH writes its real paths (/opt, /etc, /mnt, /var/log, /run, /tmp)
on that node alone.

What one :class:`NodeSet` of this process (pid P) sets up; the subnet is fixed, so one NodeSet at a time on
the machine::

    host namespace: bridge nnbrP, 198.18.0.1/24 (the controller side; 198.18.0.0/15 is reserved for tests)
      veth nnvP-1 <-> eth0 198.18.0.11/24 in netns netns-nodes-P-1   (node 1)
      veth nnvP-2 <-> eth0 198.18.0.12/24 in netns netns-nodes-P-2   (node 2) ...
    base/
      id_ed25519[.pub]   the client key: root on every node
      authorized_keys    its public half, the AuthorizedKeysFile of every node
      ssh_config         client options for ``ssh -F`` (key, no host key checking, node names as aliases)
      <node>/            the node's root: opt mnt var-log run tmp etc-upper etc-work (mounted on /opt, /mnt,
                         /var/log, /run, /tmp and, as an overlay over the host's, /etc), sshd_config,
                         ssh_host_ed25519_key, sshd.pid, sshd.log (sshd's stderr)

Inside a node, base/ is also mounted at /run/netns-nodes before the other mounts cover anything, so a base
below /tmp stays reachable there: the node's sshd_config names its files by those paths. /var/run is a
symlink to /run on Debian, so /var/run/... is per node too. /root and /home are the host's.

The nodes have no default route: nothing they run reaches past the bridge.
"""

import contextlib
import gzip
import hashlib
import http.server
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

SSHD = "/usr/sbin/sshd"
SUBNET = "198.18.0.0/24"
BRIDGE_IP = "198.18.0.1"
DEFAULT_NAMES = ("node-master", "node-core-1", "node-core-2")
IN_NODE_BASE = "/run/netns-nodes"  # where base/ is mounted inside every node
TOOLS = ("ip", "unshare", "nsenter", "mount", "hostname", "ssh", "ssh-keygen")
# Our names carry the pid of the process that made them, so that a crashed run's leftovers can be told apart
# from a live run's. Interface names are at most 15 characters: nnv + 7-digit pid + -NNN fits.
NETNS_RE = re.compile(r"^netns-nodes-(\d+)-")
LINK_RE = re.compile(r"^nn(?:br|v|p)(\d+)(?:-\d+)?$")
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_NODES = 99
LOG_TAIL = 2000  # characters of sshd.log quoted in errors


@dataclass(frozen=True)
class Node:
    """One fake machine. ``pid`` is its sshd's: the handle on its namespaces (``nsenter -t PID``)."""

    name: str
    ip: str
    root: Path
    pid: int
    netns: str


@dataclass
class NodeSet:
    """Nodes started by :func:`start_nodes`; :meth:`stop` removes every trace of them."""

    base: Path
    key: Path
    ssh_config: Path
    bridge: str
    nodes: list[Node] = field(default_factory=list)
    bridge_ip: str = BRIDGE_IP
    user: str = "root"
    # What exists so far, in creation order, for stop() (also after a start that failed half-way).
    _netns: list[str] = field(default_factory=list, repr=False)
    _links: list[str] = field(default_factory=list, repr=False)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} (have {', '.join(n.name for n in self.nodes)})")

    def run(self, node: Node | str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` on ``node`` (in its network, mount and UTS namespaces) without SSH.

        ``kw`` goes to :func:`subprocess.run`; output is captured as text unless ``kw`` says otherwise, and
        ``check`` is False as there.
        """
        target = self.node(node) if isinstance(node, str) else node
        return subprocess.run(["nsenter", "-t", str(target.pid), "-n", "-m", "-u", "--", *argv], **_with_defaults(kw))

    def ssh(self, node: Node | str, command: str, **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run the shell ``command`` on ``node`` over SSH as :attr:`user` (``ssh -F ssh_config``).

        ``kw`` goes to :func:`subprocess.run`, with the same defaults as :meth:`run`.
        """
        target = self.node(node) if isinstance(node, str) else node
        kw = _with_defaults(kw)
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)  # ssh would read the test's stdin
        return subprocess.run(["ssh", "-F", str(self.ssh_config), f"{self.user}@{target.ip}", command], **kw)

    def stop(self, grace: float = 5.0) -> None:
        """Kill every process in the nodes' netns (SIGTERM, SIGKILL after ``grace`` s), delete the netns, the
        veths and the bridge, then check that none of them is left (RuntimeError if one is). Idempotent."""
        _teardown(self._netns, self._links, self._procs, grace)
        self._netns, self._links, self._procs = [], [], []


class NodesFactory(Protocol):
    """What the ``netns_nodes_factory`` fixture yields: starts nodes of those names (in a fresh base)."""

    def __call__(self, names: Sequence[str] = DEFAULT_NAMES) -> NodeSet: ...


def _with_defaults(kw: dict[str, Any]) -> dict[str, Any]:
    """subprocess.run keywords of NodeSet.run and .ssh: text output captured, a time limit."""
    kw = dict(kw)
    if "stdout" not in kw and "stderr" not in kw:
        kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return kw


def node_ip(index: int) -> str:
    """The address of node ``index`` (1-based)."""
    return f"198.18.0.{10 + index}"


def preflight() -> str | None:
    """Why nodes cannot start on this machine (a pytest skip reason), or None when they can."""
    if os.geteuid() != 0:
        return "netns nodes need root (network namespaces, mounts)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not os.access(SSHD, os.X_OK):
        missing.insert(0, f"{SSHD} (apt-get install openssh-server)")
    if missing:
        return f"netns nodes need {', '.join(missing)}"
    probe = f"netns-nodes-{os.getpid()}-probe"
    added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if added.returncode != 0:
        return f"`ip netns add` fails here (no CAP_SYS_ADMIN?): {added.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    unshared = subprocess.run(
        ["unshare", "--mount", "--uts", "--propagation", "private", "true"], capture_output=True, text=True, check=False
    )
    if unshared.returncode != 0:
        return f"`unshare --mount --uts` fails here: {unshared.stderr.strip()}"
    return None


def start_nodes(names: Sequence[str], base: Path, *, timeout: float = 30.0) -> NodeSet:
    """Start one node per name (node i gets 198.18.0.(10+i)) with its state in ``base``; returns once every
    node's port 22 accepts connections from the host. On failure, whatever was made is removed."""
    _check_names(names)
    base = base.resolve()
    if any(base.is_relative_to(d) for d in ("/run", "/etc", "/proc", "/sys", "/dev")):
        raise ValueError(f"{base}: a node mounts over /run and /etc, so base cannot live below them")
    base.mkdir(parents=True, exist_ok=True)
    _reap_stale()
    taken = _ip("-o", "-4", "addr", "show", "to", SUBNET).stdout.strip()
    if taken:
        raise RuntimeError(f"{SUBNET} is already in use on this machine (another NodeSet running?):\n{taken}")

    key = base / "id_ed25519"
    if not key.exists():
        _keygen(key)
    (base / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    ssh_config = base / "ssh_config"
    ssh_config.write_text(_client_config(names, key))
    nodes = NodeSet(base=base, key=key, ssh_config=ssh_config, bridge=f"nnbr{os.getpid()}")
    try:
        _ip("link", "add", nodes.bridge, "type", "bridge")
        nodes._links.append(nodes.bridge)
        _ip("addr", "add", f"{BRIDGE_IP}/24", "dev", nodes.bridge)
        _ip("link", "set", nodes.bridge, "up")
        for index, name in enumerate(names, start=1):
            nodes.nodes.append(_start_node(nodes, index, name))
        deadline = time.monotonic() + timeout
        for node, proc in zip(nodes.nodes, nodes._procs, strict=True):
            _wait_ready(node, proc, deadline, timeout)
    except BaseException:
        with contextlib.suppress(RuntimeError):  # the start error is the one to see
            nodes.stop()
        raise
    return nodes


@contextlib.contextmanager
def started_nodes(names: Sequence[str], base: Path) -> Iterator[NodeSet]:
    """:func:`start_nodes` as a context manager: stops (and checks the cleanup) on exit."""
    nodes = start_nodes(names, base)
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def netns_nodes_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodesFactory]:
    """Starts :class:`NodeSet` s (one at a time: they share the subnet) in fresh bases; stops them all at the
    end of the module. Skips when this machine cannot run them (see :func:`preflight`)."""
    reason = preflight()
    if reason:
        pytest.skip(reason)
    with contextlib.ExitStack() as stack:

        def start(names: Sequence[str] = DEFAULT_NAMES) -> NodeSet:
            nodes = start_nodes(names, tmp_path_factory.mktemp("netns-nodes"))
            stack.callback(nodes.stop)
            return nodes

        yield start


@contextlib.contextmanager
def serve_files(address: str, files: Mapping[str, Path]) -> Iterator[str]:
    """Serve ``files`` (URL name -> file) over HTTP on ``address`` (e.g. the bridge's, never all interfaces)
    at a free port, from threads; yields the base URL, ``http://ADDRESS:PORT``. No Range support."""
    if address in ("", "0.0.0.0", "::"):
        raise ValueError("serve_files binds one address (the bridge's), not all of them")
    table = {name.lstrip("/"): Path(path) for name, path in files.items()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._send(body=True)

        def do_HEAD(self) -> None:
            self._send(body=False)

        def _send(self, body: bool) -> None:
            path = table.get(self.path.split("?", 1)[0].lstrip("/"))
            if path is None or not path.is_file():
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            if body:
                with path.open("rb") as source:
                    shutil.copyfileobj(source, self.wfile, 1 << 20)

        def log_message(self, *args: Any) -> None:  # quiet: the tests read their own output
            pass

    httpd = http.server.ThreadingHTTPServer((address, 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, name=f"serve_files {address}", daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def hadoop_tarball(home: Path, dest_dir: Path, version: str = "2.7.3") -> Path:
    """Pack the Hadoop home ``home`` as ``dest_dir/hadoop-VERSION.tar.gz`` with the single top folder
    ``hadoop-VERSION/``, as Apache's release tarballs are. Members are sorted and owned by root, the gzip
    header has no time: the same home packs to the same bytes. Not rebuilt while newer than everything in
    ``home`` (folders included, so a removed file counts)."""
    home = home.resolve()  # a symlinked home is packed as the folder it names
    top = f"hadoop-{version}"
    dest = dest_dir / f"{top}.tar.gz"
    members = [home]
    for folder, dirnames, filenames in os.walk(home):
        dirnames.sort()  # os.walk descends in this order
        members.extend(Path(folder, name) for name in sorted(dirnames + filenames))
    newest = max(path.lstat().st_mtime for path in members)
    if dest.exists() and dest.stat().st_mtime >= newest:
        return dest

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = int(info.mtime)
        return info

    dest_dir.mkdir(parents=True, exist_ok=True)
    work = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    # Jars are compressed already: level 6 packs them as small as 9 does, faster.
    with (
        work.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in members:
            arcname = top if path == home else f"{top}/{path.relative_to(home).as_posix()}"
            tar.add(path, arcname=arcname, recursive=False, filter=as_root)
    work.replace(dest)
    return dest


def sha512_of(path: Path) -> str:
    """The SHA-512 of the file ``path``, in hex (as ``sha512sum`` prints it)."""
    digest = hashlib.sha512()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- starting ----------------------------------------------------------------------------------------------


def _check_names(names: Sequence[str]) -> None:
    if not 1 <= len(names) <= MAX_NODES:
        raise ValueError(f"between 1 and {MAX_NODES} nodes, not {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"node names repeat: {list(names)}")
    bad = [name for name in names if not NAME_RE.match(name)]
    if bad:
        raise ValueError(f"not host names (lower-case letters, digits, inner dashes): {bad}")


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    """``ip ARGS``; RuntimeError with ip's own message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"netns-nodes {path.parent.name}", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _client_config(names: Sequence[str], key: Path) -> str:
    """ssh_config for the host's client: ``ssh -F`` passes it on to the jump connections of ``-J`` too."""
    aliases = "".join(f"Host {name}\n    HostName {node_ip(i)}\n" for i, name in enumerate(names, start=1))
    return (
        f"{aliases}"
        f"Host 198.18.0.* {' '.join(names)}\n"
        "    User root\n"
        f"    IdentityFile {key}\n"
        "    IdentitiesOnly yes\n"
        "    StrictHostKeyChecking no\n"  # every run makes new host keys
        "    UserKnownHostsFile /dev/null\n"
        "    LogLevel ERROR\n"
        "    BatchMode yes\n"
        "    ConnectTimeout 10\n"
    )


def _sshd_config(index: int, name: str) -> str:
    root = f"{IN_NODE_BASE}/{name}"
    return (
        f"Port 22\n"
        f"ListenAddress {node_ip(index)}\n"
        f"HostKey {root}/ssh_host_ed25519_key\n"
        f"PidFile {root}/sshd.pid\n"
        f"AuthorizedKeysFile {IN_NODE_BASE}/authorized_keys\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        # Workers are reached through the master as a jump host (-J), and port forwards are tested.
        "AllowTcpForwarding yes\n"
        "PermitTunnel no\n"
        "X11Forwarding no\n"
        "AcceptEnv LANG LC_*\n"
        # Ansible's and Fabric's file transfers; in-process, so no sftp-server binary path to get right.
        "Subsystem sftp internal-sftp\n"
    )


def _node_script(base: Path, name: str) -> str:
    """The shell that turns the process into the node, then becomes its sshd."""
    root = f"{IN_NODE_BASE}/{name}"
    lines = [
        "set -e",
        f"mount --bind {shlex.quote(str(base / name / 'run'))} /run",
        # base/ at a fixed place before /tmp, /opt... are covered: base may well be below one of them.
        f"mount --bind {shlex.quote(str(base))} {IN_NODE_BASE}",
        f"mount --bind {root}/opt /opt",
        f"mount --bind {root}/mnt /mnt",
        f"mount --bind {root}/var-log /var/log",
        f"mount --bind {root}/tmp /tmp",
        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={root}/etc-upper,workdir={root}/etc-work /etc",
        f"hostname {name}",
        f"exec {SSHD} -D -e -f {root}/sshd_config",
    ]
    return "\n".join(lines) + "\n"


def _start_node(nodes: NodeSet, index: int, name: str) -> Node:
    """Make node ``index``'s netns, veth and folders, and start its sshd (not waiting for it)."""
    pid, ip = os.getpid(), node_ip(index)
    netns, host_end, peer = f"netns-nodes-{pid}-{index}", f"nnv{pid}-{index}", f"nnp{pid}-{index}"
    _ip("netns", "add", netns)
    nodes._netns.append(netns)
    _ip("link", "add", host_end, "type", "veth", "peer", "name", peer)
    nodes._links.append(host_end)  # deleting it deletes the peer, wherever that is by then
    _ip("link", "set", peer, "netns", netns)
    _ip("-n", netns, "link", "set", peer, "name", "eth0")
    _ip("-n", netns, "addr", "add", f"{ip}/24", "dev", "eth0")
    _ip("-n", netns, "link", "set", "eth0", "up")
    _ip("-n", netns, "link", "set", "lo", "up")
    _ip("link", "set", host_end, "master", nodes.bridge, "up")

    root = nodes.base / name
    for sub, mode in (("opt", 0o755), ("mnt", 0o755), ("var-log", 0o755), ("etc-upper", 0o755), ("etc-work", 0o755)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub).chmod(mode)
    # sshd's privilege separation folder must be root's and not group/world-writable; /run/lock and /tmp are
    # sticky and world-writable as on a real machine.
    for sub, mode in (("run", 0o755), ("run/sshd", 0o755), ("run/lock", 0o1777), ("tmp", 0o1777)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub).chmod(mode)
    (root / "run" / IN_NODE_BASE.removeprefix("/run/")).mkdir(exist_ok=True)
    host_key = root / "ssh_host_ed25519_key"
    if not host_key.exists():
        _keygen(host_key)
    (root / "sshd_config").write_text(_sshd_config(index, name))

    argv = ["ip", "netns", "exec", netns, "unshare", "--mount", "--uts", "--propagation", "private", "--"]
    argv += ["/bin/sh", "-c", _node_script(nodes.base, name)]
    # ip netns exec, unshare and sh all exec (no fork): the pid is sshd's (_wait_ready checks it).
    with (root / "sshd.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    nodes._procs.append(proc)
    return Node(name=name, ip=ip, root=root, pid=proc.pid, netns=netns)


def _log_tail(node: Node) -> str:
    text = (node.root / "sshd.log").read_text(errors="replace")
    return text[-LOG_TAIL:] or "(empty)"


def _wait_ready(node: Node, proc: subprocess.Popen[bytes], deadline: float, timeout: float) -> None:
    """Wait until ``node``'s port 22 accepts TCP connections from the host."""
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{node.name}: sshd exited ({proc.returncode}); its log ends:\n{_log_tail(node)}")
        try:
            with socket.create_connection((node.ip, 22), timeout=1):
                break
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{node.name}: {node.ip}:22 still refuses after {timeout:.0f} s ({exc}); sshd.log ends:\n"
                    f"{_log_tail(node)}"
                ) from None
        time.sleep(0.05)
    exe = os.readlink(f"/proc/{node.pid}/exe")
    if exe != SSHD:
        raise RuntimeError(f"{node.name}: pid {node.pid} is {exe}, not {SSHD}: nsenter -t would miss the node")


# --- stopping ----------------------------------------------------------------------------------------------


def _netns_list() -> set[str]:
    out = _ip("netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _link_names() -> set[str]:
    # "4: nnv123-1@if3: <BROADCAST,...": the name, without the peer's index
    return {line.split(":", 2)[1].strip().split("@")[0] for line in _ip("-o", "link").stdout.splitlines()}


def _netns_pids(netns: str) -> set[int]:
    done = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, timeout=30, check=False)
    return {int(word) for word in done.stdout.split()} if done.returncode == 0 else set()


def _netns_id(netns: str) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/run/netns/{netns}")
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _start_time(pid: int) -> int | None:
    """The start time of process ``pid`` (tells it from a later one of the same pid); None once it has exited
    (zombies included: they hold nothing but their pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state is field 3, starttime field 22
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _signal_if_inside(pid: int, netns_ids: set[tuple[int, int]], sig: int) -> int | None:
    """Send ``sig`` to ``pid`` if it is in one of those netns; its start time, or None when it is not (any
    more). A pidfd pins the process, so the signal cannot reach another that took the pid meanwhile."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
        if (st.st_dev, st.st_ino) not in netns_ids:
            return None
        started = _start_time(pid)
        signal.pidfd_send_signal(fd, sig)
        return started
    except (FileNotFoundError, ProcessLookupError):
        return None
    finally:
        os.close(fd)


def _kill_netns_processes(namespaces: Sequence[str], grace: float, patience: float = 10.0) -> dict[int, int]:
    """SIGTERM every process in ``namespaces``, SIGKILL those left after ``grace`` s, until none is left.
    Returns what was signalled, pid -> start time."""
    ids = {found for netns in namespaces if (found := _netns_id(netns)) is not None}
    seen: dict[int, int] = {}
    begun = time.monotonic()
    while True:
        pids = set().union(*(_netns_pids(netns) for netns in namespaces))
        elapsed = time.monotonic() - begun
        hard = elapsed >= grace
        left = []
        for pid in sorted(pids):
            if pid in seen and not hard:  # already asked to terminate
                left.append(pid)
                continue
            started = _signal_if_inside(pid, ids, signal.SIGKILL if hard else signal.SIGTERM)
            if started is not None:
                seen[pid] = started
                left.append(pid)
        if not left:
            return seen
        if elapsed > grace + patience:
            raise RuntimeError(f"processes {left} of {', '.join(namespaces)} survive SIGKILL")
        time.sleep(0.05)


def _teardown(
    namespaces: Sequence[str], links: Sequence[str], procs: Sequence[subprocess.Popen[bytes]], grace: float
) -> None:
    """Remove ``namespaces`` (killing their processes) and ``links``, then check that all are gone."""
    seen = _kill_netns_processes(namespaces, grace)
    for proc in procs:  # our children: reap them
        proc.wait(timeout=10)
    present = _link_names()
    for link in reversed(links):  # veths, then the bridge
        if link in present:
            _ip("link", "del", link)
    present_ns = _netns_list()
    for netns in namespaces:
        if netns in present_ns:
            _ip("netns", "del", netns)
    left_pids = sorted(pid for pid, started in seen.items() if _start_time(pid) == started)
    left_ns = sorted(set(namespaces) & _netns_list())
    left_links = sorted(set(links) & _link_names())
    if left_pids or left_ns or left_links:
        raise RuntimeError(f"netns nodes not cleaned up: pids {left_pids}, netns {left_ns}, links {left_links}")


def _reap_stale() -> None:
    """Remove the netns and links that a crashed test process (one no longer running) left behind: their sshd
    would hold the subnet forever."""
    namespaces = [ns for ns in _netns_list() if (m := NETNS_RE.match(ns)) and not Path(f"/proc/{m[1]}").exists()]
    links = [link for link in _link_names() if (m := LINK_RE.match(link)) and not Path(f"/proc/{m[1]}").exists()]
    if namespaces or links:
        _teardown(namespaces, links, [], grace=2.0)
