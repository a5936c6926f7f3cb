"""Where the data sets are on this machine: the sample bundled in the package, and what ``data fetch`` wrote."""

import os
from pathlib import Path

# 320 Fruits-360 Test images (32 classes x 10, seed 1), MIT: see sample/README.md. Lets `demo` run anywhere.
SAMPLE_FRUITS = Path(__file__).resolve().parent / "sample" / "fruits-360-test"
DATA_HOME_ENV = "CLUSTERCTL_DATA"


def data_home() -> Path:
    """Where ``clusterctl data fetch`` puts data sets: ``$CLUSTERCTL_DATA`` or ``~/.cache/clusterctl/data``."""
    return Path(os.environ.get(DATA_HOME_ENV) or Path.home() / ".cache" / "clusterctl" / "data")


def default_fruits() -> Path:
    """The whole Fruits-360 Test split when ``data fetch fruits360`` has fetched it, else the bundled sample."""
    fetched = data_home() / "fruits360" / "Test"
    return fetched if fetched.is_dir() else SAMPLE_FRUITS
