"""The per-cluster workdir ``.clusterctl/<name>/``: what lives where."""

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path(".clusterctl")


def clusters_home() -> Path:
    """Root of all workdirs: ``$CLUSTERCTL_HOME`` or ``./.clusterctl``."""
    return Path(os.environ.get("CLUSTERCTL_HOME", DEFAULT_HOME))


@dataclass(frozen=True)
class Workdir:
    """Paths inside one cluster's workdir."""

    root: Path

    @classmethod
    def for_cluster(cls, name: str, home: Path | None = None) -> "Workdir":
        """The workdir of cluster ``name`` under ``home`` (default: ``clusters_home()``)."""
        return cls(((home or clusters_home()) / name).resolve())

    @property
    def conf(self) -> Path:
        """Rendered site XML, spark-defaults.conf, spark-env.sh, workers."""
        return self.root / "conf"

    def path(self, name: str) -> Path:
        """A subdirectory of the workdir, not created (for commands that only read)."""
        return self.root / name

    def runs(self) -> list[Path]:
        """Run directories, oldest first (none before the first ``submit``)."""
        runs = self.path("runs")
        return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []

    def sub(self, name: str) -> Path:
        """A subdirectory of the workdir (created if missing): logs, pids, runs, work, events, tmp."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path
