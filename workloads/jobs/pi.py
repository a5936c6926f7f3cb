"""A trivial job (Monte-Carlo pi) for start-up benchmarks and smoke tests.

    spark-submit workloads/jobs/pi.py [--samples N] [--partitions P]

Prints one JSON line: {"pi": ..., "samples": N, "partitions": P}.
"""

import argparse
import json
import random
import sys

from workloads.common.job import JobContext, run_job


def _inside(seed: int, n: int) -> int:
    rng = random.Random(seed)
    return sum(1 for _ in range(n) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)


def parser() -> argparse.ArgumentParser:
    """Command-line options of the job."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=200_000)
    p.add_argument("--partitions", type=int, default=4)
    return p


def estimate(job: JobContext) -> None:
    """Estimate pi on the cluster and print it as JSON."""
    args = job.args
    per = args.samples // args.partitions
    hits = (
        job.spark.sparkContext.parallelize(range(args.partitions), args.partitions)
        .map(lambda seed: _inside(seed, per))
        .sum()
    )
    total = per * args.partitions
    print(json.dumps({"pi": 4.0 * hits / total, "samples": total, "partitions": args.partitions}))


def main(argv: list[str] | None = None) -> int:
    """Run the job; return the process exit code."""
    return run_job("spark_pi", parser(), estimate, argv)


if __name__ == "__main__":
    sys.exit(main())
