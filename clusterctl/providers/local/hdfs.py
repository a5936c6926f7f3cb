"""A real single-node HDFS (one NameNode, one DataNode) on 127.0.0.1 beside the local Spark cluster.

The daemons run from an Apache Hadoop distribution (``share/hadoop/{common,hdfs}`` with their ``lib/``
folders: ``local.hadoop_home``, ``HADOOP_HOME`` or the release ``clusterctl data fetch hadoop``
unpacked), each as ``java -cp <classpath> <main class>`` leading its own process group, as the
local provider starts Spark's daemons: no ``bin/hdfs`` or ``sbin/*-daemon.sh`` (they daemonize,
sleep and read ``etc/hadoop/hadoop-env.sh``). Everything they write lives under ``root``::

    root/hdfs-conf/{core-site.xml,hdfs-site.xml,log4j.properties}   also usable as a client HADOOP_CONF_DIR
    root/hdfs/{name,data,tmp}/  root/hdfs/formatted                 namespace, blocks, the format guard
    root/pids/hdfs-{namenode,datanode}.pid  root/logs/hdfs-{namenode,datanode}.out, hdfs-format.out

Every daemon port listens on 127.0.0.1 only. Health comes from the NameNode's JMX servlet
(``/jmx``, on its HTTP port): out of safe mode and one live DataNode. Every daemon carries
``CLUSTERCTL_HDFS_ROOT=<root>`` in its environment, so a stop can find any that lost its pid file.
"""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterctl.data.sets import data_home
from clusterctl.errors import ClusterctlError
from clusterctl.providers.local.processes import (
    busy_ports,
    find_processes,
    free_port,
    is_alive,
    listener_pid,
    log_tail,
    owned_pid,
    port_in_use,
    stop_group,
)

NAMENODE_CLASS = "org.apache.hadoop.hdfs.server.namenode.NameNode"
DATANODE_CLASS = "org.apache.hadoop.hdfs.server.datanode.DataNode"
MARKER_VAR = "CLUSTERCTL_HDFS_ROOT"
FETCHED_HADOOP = "hadoop"  # the `data fetch` entry (datasets.yaml) whose release local.hdfs runs by default
HADOOP_HOME_HINT = (
    "run `clusterctl data fetch hadoop` (offline: add --mirror DIR|URL holding hadoop-3.3.6.tar.gz), or set "
    "local.hadoop_home or HADOOP_HOME to an unpacked Apache Hadoop release"
)
# Java 17 keeps JDK internals closed; Hadoop (2.7 to 3.4) reaches into these by reflection
# (buffers and their cleaners, sun.nio.ch sockets, Configuration's and UGI's java.lang/java.util use).
JAVA17_FLAGS: tuple[str, ...] = (
    "-XX:+IgnoreUnrecognizedVMOptions",
    *(
        f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
        for pkg in (
            "java.lang",
            "java.lang.invoke",
            "java.lang.reflect",
            "java.io",
            "java.net",
            "java.nio",
            "java.util",
            "java.util.concurrent",
            "java.util.concurrent.atomic",
            "jdk.internal.ref",
            "sun.nio.ch",
            "sun.nio.cs",
            "sun.security.action",
            "sun.util.calendar",
        )
    ),
    "-Dio.netty.tryReflectionSetAccessible=true",
)
# The daemons' ports besides the NameNode's RPC port: hdfs-site.xml key -> Hadoop 3 default port.
PORT_KEYS = {
    "dfs.namenode.http-address": 9870,
    "dfs.datanode.address": 9866,
    "dfs.datanode.http.address": 9864,
    "dfs.datanode.ipc.address": 9867,
}
# Addresses of servers this setup never starts (HTTPS, secondary/backup NameNode): loopback anyway.
UNUSED_ADDRESS_KEYS = (
    "dfs.namenode.https-address",
    "dfs.datanode.https.address",
    "dfs.namenode.secondary.http-address",
    "dfs.namenode.secondary.https-address",
    "dfs.namenode.backup.address",
    "dfs.namenode.backup.http-address",
)
LOG4J = """\
# Written by clusterctl: the daemons log to stdout/stderr, which go to root/logs/hdfs-<daemon>.out.
hadoop.root.logger=INFO,console
hadoop.security.logger=INFO,NullAppender
log4j.rootLogger=${hadoop.root.logger}
log4j.threshold=ALL
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{yy/MM/dd HH:mm:ss} %p %c{2}: %m%n
log4j.appender.NullAppender=org.apache.log4j.varia.NullAppender
log4j.category.SecurityLogger=${hadoop.security.logger}
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=WARN
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
log4j.logger.BlockStateChange=WARN
"""


@dataclass(frozen=True)
class _Daemon:
    name: str
    cls: str


NAMENODE = _Daemon("namenode", NAMENODE_CLASS)
DATANODE = _Daemon("datanode", DATANODE_CLASS)
DAEMONS = (NAMENODE, DATANODE)


def _server_jar(folder: Path, artifact: str) -> Path | None:
    """``folder/<artifact>-<version>.jar`` (not its -tests/-sources jar), or None."""
    pattern = re.compile(rf"{re.escape(artifact)}-(\d+\.\d+[\w.\-]*)\.jar")
    found = sorted(
        p
        for p in (folder.glob(f"{artifact}-*.jar") if folder.is_dir() else ())
        if pattern.fullmatch(p.name) and not p.name.endswith(("-tests.jar", "-sources.jar", "-javadoc.jar"))
    )
    return found[-1] if found else None


def find_hadoop_home(explicit: Path | None = None) -> Path:
    """The Hadoop distribution to run HDFS from, checked for the HDFS server.

    ``explicit`` (``local.hadoop_home``), else ``$HADOOP_HOME``, else the release ``clusterctl data fetch
    hadoop`` unpacked into the data home. Raises ClusterctlError (one line, naming the fix) when there is
    none or the folder holds no ``share/hadoop/hdfs/hadoop-hdfs-<version>.jar`` and
    ``share/hadoop/common/hadoop-common-<version>.jar``.
    """
    if explicit is not None:
        origin = ""
    elif env := os.environ.get("HADOOP_HOME"):
        explicit, origin = Path(env), "HADOOP_HOME "
    elif (fetched := data_home() / FETCHED_HADOOP).is_dir():  # only a finished fetch is moved into place
        explicit, origin = fetched, "the fetched Hadoop "
    else:
        raise ClusterctlError(f"HDFS needs a Hadoop distribution and none is set or fetched: {HADOOP_HOME_HINT}")
    home = explicit.expanduser().resolve()
    if not home.is_dir():
        raise ClusterctlError(f"{origin}{home} is not a directory: {HADOOP_HOME_HINT}")
    share = home / "share" / "hadoop"
    for folder, artifact in (("hdfs", "hadoop-hdfs"), ("common", "hadoop-common")):
        if _server_jar(share / folder, artifact) is None:
            raise ClusterctlError(
                f"{origin}{home} is not a Hadoop distribution (no share/hadoop/{folder}/{artifact}-<version>.jar): "
                f"{HADOOP_HOME_HINT}"
            )
    return home


def hadoop_version(hadoop_home: Path) -> str | None:
    """The version in ``share/hadoop/common/hadoop-common-<version>.jar``, or None."""
    jar = _server_jar(hadoop_home / "share" / "hadoop" / "common", "hadoop-common")
    return jar.name.removeprefix("hadoop-common-").removesuffix(".jar") if jar else None


def _site_xml(properties: dict[str, str]) -> str:
    root = ET.Element("configuration")
    for key, value in properties.items():
        prop = ET.SubElement(root, "property")
        ET.SubElement(prop, "name").text = key
        ET.SubElement(prop, "value").text = value
    ET.indent(root)
    return '<?xml version="1.0"?>\n<!-- Written by clusterctl (LocalHdfs.configure). -->\n' + ET.tostring(
        root, encoding="unicode"
    )


def _read_site_xml(path: Path) -> dict[str, str]:
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return {}
    return {(prop.findtext("name") or ""): (prop.findtext("value") or "") for prop in tree.getroot().iter("property")}


def _port_of(address: str) -> int | None:
    try:
        return int(address.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


class LocalHdfs:
    """One NameNode and one DataNode on 127.0.0.1, their files under ``root``.

    The verbs, in order: ``configure`` (site files, ports), ``format_once`` (a new namespace, once),
    ``start``, ``wait_healthy``; then ``status`` and ``stop``. ``start`` and ``stop`` are idempotent.
    """

    def __init__(
        self,
        hadoop_home: Path,
        root: Path,
        namenode_port: int,
        java_home: Path | None = None,
        *,
        http_port: int | None = None,
        webhdfs: bool = False,
        heap: str = "256m",
        extra_classpath: Sequence[Path] = (),
    ) -> None:
        """``http_port`` (the NameNode web UI and JMX) and the DataNode's ports are free ones unless given.

        ``webhdfs`` stays off by default: it needs jersey 1 and the ``webapps/`` resources of a full
        distribution. ``extra_classpath`` entries go after the distribution's jars.
        """
        self.hadoop_home = hadoop_home
        self.root = root.resolve()
        self.namenode_port = namenode_port
        self._java_home = java_home
        self._http_port = http_port
        self.webhdfs = webhdfs
        self.heap = heap
        self.extra_classpath = tuple(extra_classpath)

    # -- paths --------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        """``hdfs://127.0.0.1:<namenode_port>``: the file system's URI (fs.defaultFS)."""
        return f"hdfs://127.0.0.1:{self.namenode_port}"

    @property
    def conf_dir(self) -> Path:
        """``root/hdfs-conf``: the daemons' site files (a client can use it as HADOOP_CONF_DIR too)."""
        return self.root / "hdfs-conf"

    @property
    def data_root(self) -> Path:
        """``root/hdfs``: the NameNode's namespace (name/), the DataNode's blocks (data/), tmp/."""
        return self.root / "hdfs"

    @property
    def marker(self) -> str:
        """``CLUSTERCTL_HDFS_ROOT=<root>``: in the environment of every process of this HDFS."""
        return f"{MARKER_VAR}={self.root}"

    @property
    def web_ui(self) -> str | None:
        """The NameNode's web UI and JMX (``http://127.0.0.1:<port>``), once configured."""
        port = self.ports().get("dfs.namenode.http-address")
        return f"http://127.0.0.1:{port}" if port else None

    def _pid_file(self, daemon: _Daemon) -> Path:
        return self.root / "pids" / f"hdfs-{daemon.name}.pid"

    def log_of(self, daemon: str) -> Path:
        """``root/logs/hdfs-<daemon>.out`` (namenode, datanode or format)."""
        return self.root / "logs" / f"hdfs-{daemon}.out"

    @property
    def _formatted_marker(self) -> Path:
        return self.data_root / "formatted"

    # -- java -----------------------------------------------------------------------------------
    @property
    def java(self) -> Path:
        """``java_home/bin/java``, else the Java 17+ the local provider runs Spark with."""
        if self._java_home is not None:
            java = self._java_home / "bin" / "java"
            if not java.exists():
                raise ClusterctlError(f"{java} does not exist: point java_home (JAVA_HOME) at a Java 17+ install")
            return java
        from clusterctl.providers.local.javaenv import find_runtime

        return find_runtime().java

    def classpath(self) -> list[str]:
        """The conf dir, then the distribution's jars as ``hadoop classpath`` orders them, then extras.

        ``share/hadoop/hdfs`` itself goes on the classpath when it holds ``webapps/`` (as Hadoop's own
        scripts do): the daemons' HTTP servers find ``webapps/{hdfs,datanode,static}`` as resources.
        """
        share = self.hadoop_home / "share" / "hadoop"
        entries = [str(self.conf_dir), f"{share}/common/lib/*", f"{share}/common/*"]
        if (share / "hdfs" / "webapps").is_dir():
            entries.append(str(share / "hdfs"))
        entries += [f"{share}/hdfs/lib/*", f"{share}/hdfs/*", *(str(p) for p in self.extra_classpath)]
        return entries

    def _command(self, daemon: str, cls: str, *args: str) -> list[str]:
        return [
            str(self.java),
            f"-Dproc_{daemon}",
            f"-Xmx{self.heap}",
            *JAVA17_FLAGS,
            "-Djava.net.preferIPv4Stack=true",
            f"-Djava.io.tmpdir={self.data_root / 'tmp'}",  # Jetty unpacks its webapps there
            f"-Dhadoop.log.dir={self.root / 'logs'}",
            f"-Dhadoop.log.file=hdfs-{daemon}.log",
            f"-Dhadoop.home.dir={self.hadoop_home}",
            "-Dhadoop.root.logger=INFO,console",
            "-Dhadoop.security.logger=INFO,NullAppender",
            "-cp",
            os.pathsep.join(self.classpath()),
            cls,
            *args,
        ]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HADOOP_", "HDFS_")) and k != "CLASSPATH"}
        env.update(
            {
                "HADOOP_HOME": str(self.hadoop_home),
                "HADOOP_CONF_DIR": str(self.conf_dir),
                "JAVA_HOME": str(self.java.parent.parent),
                MARKER_VAR: str(self.root),
            }
        )
        return env

    # -- configure ------------------------------------------------------------------------------
    def ports(self) -> dict[str, int]:
        """The configured ports: ``dfs.namenode.rpc-address`` and every key of PORT_KEYS (empty before configure)."""
        props = _read_site_xml(self.conf_dir / "hdfs-site.xml")
        found = {key: _port_of(props.get(key, "")) for key in ("dfs.namenode.rpc-address", *PORT_KEYS)}
        return {key: port for key, port in found.items() if port}

    def configure(self) -> Path:
        """Write ``root/hdfs-conf/{core-site.xml,hdfs-site.xml,log4j.properties}``; return the folder.

        Ports not given are picked free, and kept from an earlier configure while the daemons run
        or while they are still free.
        """
        if bad := sorted(set(str(self.root)) & set(",%")):
            raise ClusterctlError(
                f"{self.root}: HDFS cannot keep its data under a path containing {' or '.join(map(repr, bad))} "
                "(Hadoop splits directory lists on ',' and mangles '%'); use a workdir without them"
            )
        running = any(self._running(d) for d in DAEMONS)
        previous = self.ports()
        chosen: dict[str, int] = {}
        for key in PORT_KEYS:
            if key == "dfs.namenode.http-address" and self._http_port is not None:
                chosen[key] = self._http_port
            elif key in previous and (running or not port_in_use(previous[key])):
                chosen[key] = previous[key]
            else:
                chosen[key] = free_port()
        if running and previous.get("dfs.namenode.rpc-address") not in (None, self.namenode_port):
            raise ClusterctlError(
                f"HDFS in {self.root} is running on port {previous['dfs.namenode.rpc-address']}, not "
                f"{self.namenode_port}: stop it first"
            )
        data = self.data_root
        core = {
            "fs.defaultFS": self.uri,
            "hadoop.tmp.dir": str(data / "tmp"),
        }
        hdfs = {
            "dfs.namenode.name.dir": str(data / "name"),
            "dfs.datanode.data.dir": str(data / "data"),
            "dfs.replication": "1",
            "dfs.namenode.rpc-address": f"127.0.0.1:{self.namenode_port}",
            **{key: f"127.0.0.1:{port}" for key, port in chosen.items()},
            **{key: "127.0.0.1:0" for key in UNUSED_ADDRESS_KEYS},
            "dfs.datanode.hostname": "127.0.0.1",
            "dfs.namenode.datanode.registration.ip-hostname-check": "false",
            "dfs.webhdfs.enabled": "true" if self.webhdfs else "false",
            "dfs.permissions.enabled": "false",
            "dfs.namenode.safemode.extension": "0",
            "dfs.namenode.safemode.min.datanodes": "1",
        }
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "core-site.xml").write_text(_site_xml(core) + "\n")
        (self.conf_dir / "hdfs-site.xml").write_text(_site_xml(hdfs) + "\n")
        (self.conf_dir / "log4j.properties").write_text(LOG4J)
        return self.conf_dir

    def client_properties(self) -> dict[str, str]:
        """What a client (Spark's ``spark.hadoop.*``) needs: the URI, and replication 1 for one DataNode."""
        return {"fs.defaultFS": self.uri, "dfs.replication": "1"}

    # -- format ---------------------------------------------------------------------------------
    def format_once(self) -> bool:
        """Format a new namespace unless ``root/hdfs/formatted`` says it was done; True when it formatted.

        An existing namespace (``name/current/VERSION``) without the guard is adopted, never wiped.
        Stale DataNode blocks of an earlier namespace are removed before formatting.
        """
        if self._formatted_marker.exists():
            return False
        name = self.data_root / "name"
        if (name / "current" / "VERSION").exists():
            self._formatted_marker.write_text("adopted an existing namespace\n")
            return False
        if not (self.conf_dir / "hdfs-site.xml").exists():
            raise ClusterctlError(f"{self.conf_dir}: HDFS is not configured; call configure() before format_once()")
        if self._running(NAMENODE) is not None:
            raise ClusterctlError(f"a NameNode of {self.root} runs without a formatted namespace: stop it first")
        shutil.rmtree(self.data_root / "data", ignore_errors=True)
        self._make_dirs()
        log = self.log_of("format")
        cmd = self._command("namenode", NAMENODE_CLASS, "-format", "-nonInteractive", "-clusterid", "clusterctl")
        try:
            with log.open("ab") as out:
                code = subprocess.run(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self._env(),
                    cwd=self.root,
                    timeout=180,
                    check=False,
                ).returncode
        except subprocess.TimeoutExpired:
            raise ClusterctlError(f"formatting HDFS timed out after 180s; see {log}") from None
        if code != 0 or not (name / "current" / "VERSION").exists():
            raise ClusterctlError(f"formatting HDFS failed (exit {code}); {log} ends with: {log_tail(log)}")
        self._formatted_marker.write_text(f"formatted {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        return True

    # -- start ----------------------------------------------------------------------------------
    def _running(self, daemon: _Daemon) -> int | None:
        pid_file = self._pid_file(daemon)
        return owned_pid(pid_file, self.marker) if pid_file.exists() else None

    def _check_ports(self, keys: Iterable[str]) -> None:
        ports = self.ports()
        for key in keys:
            port = ports.get(key)
            if port and port_in_use(port):
                pid = listener_pid(port)
                who = f" by pid {pid}" if pid else ""
                raise ClusterctlError(
                    f"port {port} ({key} of HDFS) is in use{who}: stop that process, or configure() again to "
                    "pick free ports"
                )

    def start(self) -> None:
        """Start the NameNode, then the DataNode: those not already running, each in its own process group."""
        if not self._formatted_marker.exists():
            raise ClusterctlError(f"HDFS in {self.root} is not formatted; call configure() and format_once() first")
        self._make_dirs()
        if self._running(NAMENODE) is None:
            self._check_ports(("dfs.namenode.rpc-address", "dfs.namenode.http-address"))
            self._start(NAMENODE)
        if self._running(DATANODE) is None:
            self._check_ports(("dfs.datanode.address", "dfs.datanode.http.address", "dfs.datanode.ipc.address"))
            self._start(DATANODE)

    def _make_dirs(self) -> None:
        for folder in (self.root / "pids", self.root / "logs", self.data_root / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)

    def _start(self, daemon: _Daemon) -> int:
        with self.log_of(daemon.name).open("ab") as out:
            proc = subprocess.Popen(
                self._command(daemon.name, daemon.cls),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.root,
                start_new_session=True,
            )
        self._pid_file(daemon).write_text(f"{proc.pid}\n")
        return proc.pid

    # -- health -----------------------------------------------------------------------------------
    def _namesystem(self) -> dict[str, Any] | None:
        """The NameNode's ``FSNamesystemState`` bean (FSState, NumLiveDataNodes, Capacity*), or None."""
        if self.web_ui is None:
            return None
        query = f"{self.web_ui}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState"
        try:
            with urllib.request.urlopen(query, timeout=5) as resp:
                beans = json.loads(resp.read()).get("beans", [])
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return beans[0] if beans else None

    def wait_healthy(self, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the NameNode is out of safe mode with one live DataNode whose storage it has counted
        (a DataNode is live at registration, its capacity arrives with its first heartbeat); return ``status()``.

        Raises ClusterctlError with the log's last lines when a daemon exits, or on timeout.
        """
        deadline = time.monotonic() + timeout
        state: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            state = self._namesystem()
            if (
                state
                and state.get("FSState") == "Operational"
                and state.get("NumLiveDataNodes", 0) >= 1
                and int(state.get("CapacityTotal", 0)) > 0
            ):
                return self.status()
            for daemon in DAEMONS:
                if self._running(daemon) is None:
                    log = self.log_of(daemon.name)
                    raise ClusterctlError(
                        f"HDFS {daemon.name} exited during start-up: fix what its log says and start again; "
                        f"{log} ends with: {log_tail(log)}"
                    )
            time.sleep(0.5)
        seen = (
            f"NameNode {state.get('FSState')}, {state.get('NumLiveDataNodes')} live DataNodes"
            if state
            else "no answer from the NameNode's JMX"
        )
        raise ClusterctlError(
            f"HDFS not healthy after {timeout:.0f}s ({seen}); see {self.log_of('namenode')} and "
            f"{self.log_of('datanode')}"
        )

    def status(self) -> dict[str, Any]:
        """Running pids, URI, web UI, state, live DataNodes and capacity (bytes) as the NameNode reports them."""
        pids = {d.name: self._running(d) for d in DAEMONS}
        state = self._namesystem() if pids["namenode"] else None
        live = int(state.get("NumLiveDataNodes", 0)) if state else 0
        if not any(pids.values()):
            overall = "stopped"
        elif state is None:
            overall = "degraded"
        elif state.get("FSState") != "Operational":
            overall = "safemode"
        else:
            overall = "running" if live >= 1 and all(pids.values()) else "degraded"
        return {
            "state": overall,
            "uri": self.uri,
            "web_ui": self.web_ui,
            "pids": pids,
            "live_datanodes": live,
            "capacity_bytes": int(state.get("CapacityTotal", 0)) if state else None,
            "used_bytes": int(state.get("CapacityUsed", 0)) if state else None,
            "remaining_bytes": int(state.get("CapacityRemaining", 0)) if state else None,
            "files": int(state.get("FilesTotal", 0)) if state else None,
            "hadoop_version": hadoop_version(self.hadoop_home),
        }

    # -- stop -----------------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Stop the DataNode, then the NameNode, by pid; then any process carrying the marker.

        Returns what was stopped; raises ClusterctlError when a process or a port outlives it.
        """
        stopped = []
        for daemon in reversed(DAEMONS):
            pid = self._running(daemon)
            if pid is not None:
                stop_group(pid)
                stopped.append(f"hdfs {daemon.name} (pid {pid})")
            self._pid_file(daemon).unlink(missing_ok=True)
        for pid in find_processes(self.marker):
            stop_group(pid)
            stopped.append(f"hdfs leftover (pid {pid})")
        leftovers = [pid for pid in find_processes(self.marker) if is_alive(pid)]
        listened = list(self.ports().values()) if stopped else []  # what the stopped daemons listened on
        busy = [f"{port} (pid {listener_pid(port) or '?'})" for port in busy_ports(listened)]
        if leftovers or busy:
            raise ClusterctlError(
                f"HDFS teardown incomplete: processes {leftovers} still running, ports {busy} still in use; "
                "stop them by hand (kill PID) and stop again"
            )
        return stopped
