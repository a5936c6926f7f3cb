"""Turn ``FILE_OR_WORKLOAD`` into a submittable job: resolve the main file, zip the workloads."""

import zipfile
from pathlib import Path

from clusterctl.errors import SpecError
from clusterctl.providers.base import Job
from clusterctl.resources import workloads_dir
from workloads.jobs import JOBS, job_file

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
    """A bundled job's name (see ``workloads.jobs.JOBS``) or a path to a PySpark ``.py`` file."""
    path = Path(target)
    if target in JOBS:
        main, name = job_file(target), target
    elif path.suffix == ".py" and path.is_file():
        main, name = path.resolve(), path.stem.replace("_", "-")
    else:
        names = ", ".join(sorted(JOBS))
        raise SpecError(f"{target}: neither a bundled workload ({names}) nor an existing .py file")
    zipped = build_workloads_zip(zip_dir / "workloads.zip")
    return Job(main=main, args=args, name=name, py_files=(zipped,))
