"""How the face jobs chain: where each step's output goes by default, and their --input/--output options.

The defaults chain the steps: ``faces-align`` writes ``faces/aligned``, which ``faces-embed`` reads
by default, and so on. Relative paths are the caller's (see ``common.io.to_hadoop_uri``). argparse and
the standard library only.
"""

import argparse

from workloads.common.io import to_hadoop_uri

DEFAULTS = {
    "aligned": "faces/aligned",
    "embeddings": "faces/embeddings",
    "average": "faces/average",
    "classifier": "faces/classifier",
    "verify": "faces/verify",
    "stream": "faces/stream",
}


def add_io_options(p: argparse.ArgumentParser, source: str, dest: str, made_by: str) -> None:
    """--input (default: where ``made_by`` writes, ``DEFAULTS[source]``) and --output (``DEFAULTS[dest]``)."""
    p.add_argument("--input", default=DEFAULTS[source], help=f"output of {made_by} (default %(default)s)")
    p.add_argument("--output", default=DEFAULTS[dest], help="where to write (overwritten; default %(default)s)")


def io_uris(args: argparse.Namespace) -> tuple[str, str]:
    """--input and --output as Hadoop URIs (relative paths are the caller's)."""
    return to_hadoop_uri(args.input.rstrip("/")), to_hadoop_uri(args.output.rstrip("/"))
