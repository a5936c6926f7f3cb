"""A worker node as a shell for plain commands over SSH (``WorkerShell``): folders go over as one tar."""

import shlex
import tarfile
import tempfile
from pathlib import Path

from clusterctl.errors import ClusterctlError
from clusterctl.remote.connection import Outcome, Remote
from clusterctl.remote.hosts import Node


class NodeShell:
    """One worker node reached through an open ``Remote``."""

    def __init__(self, remote: Remote, node: Node, cores: int, python: str, scratch: str) -> None:
        self.remote, self.node = remote, node
        self.name = node.name
        self.cores, self.python, self.scratch = cores, python, scratch

    def put_tree(self, local: Path, remote: str) -> None:
        """``local`` packed into one tar (many small images: one transfer, not one per file), unpacked there."""
        with tempfile.TemporaryDirectory(prefix="clusterctl-put-") as tmp:
            archive = Path(tmp) / "tree.tar"
            with tarfile.open(archive, "w") as tar:
                tar.add(local, arcname=".")
            packed = f"{self.scratch}/.{Path(remote).name}.tar"
            self._check(f"mkdir -p {shlex.quote(remote)} {shlex.quote(self.scratch)}")
            self.remote.put(self.node, archive, packed)
            self._check(f"tar -xf {shlex.quote(packed)} -C {shlex.quote(remote)} && rm -f {shlex.quote(packed)}")

    def run(self, argv: list[str], env: dict[str, str]) -> Outcome:
        """``argv`` in a login shell on the node, ``env`` set for it."""
        settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
        return self.remote.run(self.node, f"env {settings} {shlex.join(argv)}" if settings else shlex.join(argv))

    def _check(self, command: str) -> None:
        outcome = self.remote.run(self.node, command)
        if outcome.exit_code != 0:
            tail = (outcome.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ClusterctlError(f"{self.name}: `{command}` failed (exit {outcome.exit_code}): {tail}")
