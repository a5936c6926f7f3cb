"""Where the files that ship beside the package live (templates/, infra/, ansible/, workloads/).

In a source checkout or an editable install they sit next to the package; a wheel install puts
the templates under ``<prefix>/share/clusterctl``.
"""

import sys
from pathlib import Path

from clusterctl.errors import ClusterctlError

_REPO_ROOT = Path(__file__).resolve().parent.parent


def templates_dir() -> Path:
    """Return the directory holding the Jinja2 templates."""
    for candidate in (_REPO_ROOT / "templates", Path(sys.prefix) / "share" / "clusterctl" / "templates"):
        if (candidate / "hadoop").is_dir():
            return candidate
    raise ClusterctlError("templates/ not found next to the clusterctl package; reinstall clusterctl")


def infra_dir() -> Path:
    """Return the directory holding the Terraform modules (``infra/modules``)."""
    for candidate in (_REPO_ROOT / "infra", Path(sys.prefix) / "share" / "clusterctl" / "infra"):
        if (candidate / "modules").is_dir():
            return candidate
    raise ClusterctlError("infra/ not found next to the clusterctl package; reinstall clusterctl")


def ansible_dir() -> Path:
    """Return the directory holding the bootstrap playbook (``ansible/site.yml`` and its roles)."""
    for candidate in (_REPO_ROOT / "ansible", Path(sys.prefix) / "share" / "clusterctl" / "ansible"):
        if (candidate / "site.yml").is_file():
            return candidate
    raise ClusterctlError("ansible/ not found next to the clusterctl package; reinstall clusterctl")


def workloads_dir() -> Path:
    """Return the directory of the bundled PySpark workloads package."""
    import workloads

    return Path(workloads.__file__).resolve().parent
