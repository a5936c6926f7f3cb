"""Run one plain module as several single-thread processes side by side on this machine, one per input folder:
the benchmarks' plain baseline, the same on a laptop and on a worker node.

    python -m workloads.common.side_by_side --module workloads.fruits.plain --output DIR PART... [-- ARGS...]

Process ``i`` runs ``python -m MODULE --input PART_i --output DIR/part-i ARGS...``; all start together and
inherit this process's environment (allocator and thread settings, ``PYTHONPATH``). Prints one JSON line:
``{"cpus": N, "processes": [{"images", "wall_s", "timings"}, ...]}``, each wall from the common start to that
process's end. A failed process makes this exit 1 with its last error line on stderr.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _summary(stdout: str) -> dict[str, Any]:
    """The last JSON object line a plain module printed."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise ValueError("printed no JSON summary")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    """Start the processes, wait for all, print the JSON line; the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--module", required=True, help="the plain module (python -m), e.g. workloads.fruits.plain")
    p.add_argument("--output", required=True, help="a folder: process i writes DIR/part-i")
    p.add_argument("parts", nargs="+", help="one input folder per process")
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    commands = [
        [sys.executable, "-m", args.module, "--input", part, "--output", f"{args.output}/part-{i}", *extra]
        for i, part in enumerate(args.parts)
    ]
    start = time.monotonic()

    def one(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        return time.monotonic() - start, proc

    with ThreadPoolExecutor(len(commands)) as pool:
        done = list(pool.map(one, commands))
    processes = []
    for (wall, proc), part in zip(done, args.parts, strict=True):
        try:
            if proc.returncode != 0:
                raise ValueError((proc.stderr.strip().splitlines() or ["(no output)"])[-1])
            summary = _summary(proc.stdout)
        except ValueError as exc:
            print(f"{args.module} on {part} failed (exit {proc.returncode}): {exc}", file=sys.stderr)
            return 1
        processes.append({"images": summary["images"], "wall_s": round(wall, 3), "timings": summary["timings"]})
    print(json.dumps({"cpus": os.cpu_count(), "processes": processes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
