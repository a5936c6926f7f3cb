"""The jobs ``clusterctl submit`` runs by name: the one registry, and where each job's file is.

Each module here is a driver entry point, run as ``spark-submit workloads/jobs/<module>.py ARGS`` (with the
workloads zip on the Python path). This module imports only the standard library, so the CLI can list the
jobs without loading Spark.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobEntry:
    """A job: its module in this folder and the one line ``clusterctl submit --help`` shows for it."""

    module: str
    summary: str


JOBS: dict[str, JobEntry] = {
    "census": JobEntry("census", "count, decode and measure every image under --input, per label"),
    "pi": JobEntry("pi", "Monte-Carlo pi: a trivial job for start-up benchmarks and smoke tests"),
    "fruits": JobEntry("fruits", "pretrained-CNN image features, StandardScaler + PCA, parquet, summary and plots"),
    "faces-align": JobEntry("faces_align", "detect and align faces (SFace template or square), JPEGs + a parquet"),
    "faces-embed": JobEntry("faces_embed", "one embedding per aligned face (SFace; dlib ResNet or FaceNet)"),
    "faces-average": JobEntry("faces_average", "the mean face embedding, overall and per person"),
    "faces-classify": JobEntry("faces_classify", "train an identity classifier (SVM) with an unknown-person gate"),
    "faces-verify": JobEntry("faces_verify", "LFW pairs protocol: 10-fold same/different accuracy and ROC"),
    "faces-stream": JobEntry("faces_stream", "Structured Streaming: recognise faces in new files of a directory"),
}


def job_file(name: str) -> Path:
    """The ``.py`` file of job ``name`` (a key of ``JOBS``); KeyError for an unknown name."""
    return Path(__file__).resolve().parent / f"{JOBS[name].module}.py"
