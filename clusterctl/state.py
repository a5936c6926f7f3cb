"""The per-cluster workdir ``.clusterctl/<name>/``: what lives where."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    @property
    def spec_copy(self) -> Path:
        """The validated spec the files were rendered from."""
        return self.root / "cluster.yaml"

    @property
    def state_file(self) -> Path:
        """Provider state (pids, ports, addresses)."""
        return self.root / "state.json"

    @property
    def runs(self) -> Path:
        """One directory per submitted job: command, driver log, result."""
        return self.root / "runs"

    def read_state(self) -> dict[str, Any]:
        """Provider state, or {} when the cluster was never started."""
        if not self.state_file.exists():
            return {}
        return json.loads(self.state_file.read_text())

    def write_state(self, state: dict[str, Any]) -> None:
        """Replace the provider state atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.state_file)

    def clear_state(self) -> None:
        """Forget provider state (after a verified teardown)."""
        self.state_file.unlink(missing_ok=True)
