"""This machine as the local cluster's worker machine: where a benchmark's plain baseline runs beside it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from clusterctl.remote.connection import Outcome


class ThisMachine:
    """The local cluster's one worker machine (``WorkerShell``): every executor core is on it."""

    name = "this machine"

    def __init__(self, cores: int, scratch: Path) -> None:
        self.cores = cores
        self.python = sys.executable
        self.scratch = str(scratch)

    def put_tree(self, local: Path, remote: str) -> None:
        """Hard links of ``local``'s files under ``remote`` (copies across file systems): no bytes move."""
        for src in sorted(p for p in local.rglob("*") if p.is_file()):
            dest = Path(remote) / src.relative_to(local)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copyfile(src, dest)

    def run(self, argv: list[str], env: dict[str, str]) -> Outcome:
        """``argv`` as a child process of this one."""
        proc = subprocess.run(argv, capture_output=True, text=True, env=os.environ | env, check=False)
        return Outcome(self.name, proc.returncode, proc.stdout, proc.stderr)
