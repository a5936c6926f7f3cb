"""A trivial job (Monte-Carlo pi) for start-up benchmarks and smoke tests.

    spark-submit workloads/spark_pi.py [--samples N] [--partitions P]

Prints one JSON line: {"pi": ..., "samples": N, "partitions": P}.
"""

import argparse
import json
import random
import sys

from pyspark.sql import SparkSession


def _inside(seed: int, n: int) -> int:
    rng = random.Random(seed)
    return sum(1 for _ in range(n) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)


def main(argv: list[str] | None = None) -> int:
    """Estimate pi on the cluster and print it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args(argv)
    spark = SparkSession.builder.getOrCreate()
    per = args.samples // args.partitions
    hits = (
        spark.sparkContext.parallelize(range(args.partitions), args.partitions)
        .map(lambda seed: _inside(seed, per))
        .sum()
    )
    total = per * args.partitions
    print(json.dumps({"pi": 4.0 * hits / total, "samples": total, "partitions": args.partitions}))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
