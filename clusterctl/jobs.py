"""Turn ``FILE_OR_WORKLOAD`` into a submittable job: resolve the main file, zip the workloads."""

import zipfile
from pathlib import Path

from clusterctl.errors import SpecError
from clusterctl.providers.base import Job
from clusterctl.resources import workloads_dir
from workloads import WORKLOADS

_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def build_workloads_zip(dest: Path) -> Path:
    """Zip the ``workloads`` package (sources only, fixed timestamps: same sources, same bytes)."""
    src = workloads_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*.py")):
            info = zipfile.ZipInfo(f"workloads/{path.relative_to(src).as_posix()}", _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(dest)
    return dest


def resolve_job(target: str, args: tuple[str, ...], zip_dir: Path) -> Job:
    """A workload name (see ``workloads.WORKLOADS``) or a path to a PySpark ``.py`` file."""
    path = Path(target)
    zipped = build_workloads_zip(zip_dir / "workloads.zip")
    if target in WORKLOADS:
        module = WORKLOADS[target]
        return Job(main=workloads_dir() / f"{module}.py", args=args, name=target, py_files=(zipped,))
    if path.suffix == ".py" and path.is_file():
        return Job(main=path.resolve(), args=args, name=path.stem.replace("_", "-"), py_files=(zipped,))
    names = ", ".join(sorted(WORKLOADS))
    raise SpecError(f"{target}: neither a bundled workload ({names}) nor an existing .py file")
