"""The rules the layout makes visible, checked on the source so a change that breaks one fails here."""

import ast
import re
import sys

from tests.conftest import REPO
from workloads.jobs import JOBS, job_file

CLUSTERCTL, WORKLOADS = REPO / "clusterctl", REPO / "workloads"


def imports(path) -> set[str]:
    """Top-level names of every module ``path`` imports (at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_nothing_outside_providers_and_spec_validation_asks_which_provider_it_is():
    allowed = {CLUSTERCTL / "config" / "spec.py"}
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in CLUSTERCTL.rglob("*.py")
        if "providers" not in path.relative_to(CLUSTERCTL).parts and path not in allowed
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"provider\s*[!=]=", line)
    ]
    assert offenders == []


def test_config_does_not_depend_on_providers_and_workloads_never_import_clusterctl():
    for path in (CLUSTERCTL / "config").rglob("*.py"):
        assert not any(m.startswith("clusterctl.providers") for m in imports(path)), path
    for path in WORKLOADS.rglob("*.py"):
        assert not any(m.split(".")[0] == "clusterctl" for m in imports(path)), path


def test_executor_side_packages_do_not_import_pyspark_ml():
    for sub in ("common", "fruits", "faces"):
        for path in (WORKLOADS / sub).rglob("*.py"):
            assert not any(m.startswith("pyspark.ml") for m in imports(path)), path


def test_one_job_registry_naming_every_job_module():
    registry = WORKLOADS / "jobs" / "__init__.py"
    assert all(m.split(".")[0] in sys.stdlib_module_names for m in imports(registry)), "the CLI imports it: stdlib only"
    modules = {p.stem for p in (WORKLOADS / "jobs").glob("*.py") if p.stem != "__init__"}
    assert {entry.module for entry in JOBS.values()} == modules
    for name in JOBS:
        assert job_file(name).is_file()
        assert job_file(name).stem not in sys.stdlib_module_names  # the job's folder is first on sys.path


def test_test_modules_have_unique_names():
    """tests/ has no __init__.py: pytest imports test files by basename, so two of one name cannot both run."""
    names = sorted(p.name for p in (REPO / "tests").rglob("test_*.py"))
    assert len(names) == len(set(names)), [n for n in set(names) if names.count(n) > 1]
