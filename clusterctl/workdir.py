"""The per-cluster workdir ``.clusterctl/<name>/``: what lives where."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_HOME = Path(".clusterctl")
ENVIRONMENT = "environment.json"  # what the cluster runs on: region, image, release, node lock


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

    def environment(self) -> dict[str, Any]:
        """What ``up`` recorded about the cluster's environment ({} before the first ``up``)."""
        path = self.root / ENVIRONMENT
        return json.loads(path.read_text()) if path.is_file() else {}

    def record_environment(self, facts: dict[str, Any]) -> dict[str, Any]:
        """Merge ``facts`` into ``environment.json`` (benchmark sessions copy it); return the whole record."""
        record = self.environment() | facts
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / ENVIRONMENT).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        return record
