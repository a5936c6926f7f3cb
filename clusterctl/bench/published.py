"""Published figures that benchmark reports draw beside this project's own: one place, each with its unit and
its source described in the words of issue 18, which collected them.

A figure is compared with one of a session's own (``compares_with``):

- ``images_per_h_vcpu``: images per hour per vCPU of the Spark run at the largest size and most workers;
- ``usd_per_million``: $ per 1M images of that run (published in €: shown side by side, not converted);
- ``wall``: the wall time of a run of ``images`` images (Spark ``cold``, the way those runs were made, or
  ``plain``), or of the one job ``job`` when the figure covers only that step;
- ``stream_latency``: a streamed snapshot's latency, which sessions do not measure (``clusterctl bench faces`` does).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """One published figure."""

    key: str
    suite: str  # the session suite it belongs beside
    value: float
    unit: str
    source: str  # as issue 18 describes it
    compares_with: str  # images_per_h_vcpu | usd_per_million | wall | stream_latency
    images: int | None = None  # for a time: how many images it took
    wall_s: float | None = None  # the time in seconds (for the plots)
    workers: int | None = None  # the cluster's size it was measured on, where stated
    mode: str | None = None  # which of our modes it sits beside: cold (Spark, submitted) or plain
    job: str | None = None  # for a time that covers one job of the suite only
    note: str = ""


_VGG16_EMR = "4,400 images/(h·vCPU) and 11 € per 1M images for VGG16 features on EMR"
_320 = "320 images in 95 s on EMR vs 9 s plain Python"
_LFW_ALIGN = "LFW alignment of 13,233 images in 10.3 min on a 3-node cluster and 40 s per streamed snapshot"
_FACE_RECOGNITION = "13,233 photos in ~20 min on 4 workers with the face_recognition method"

PUBLISHED: tuple[Published, ...] = (
    Published("vgg16_emr_rate", "fruits", 4400, "images/(h·vCPU)", _VGG16_EMR, "images_per_h_vcpu"),
    Published(
        "vgg16_emr_cost", "fruits", 11, "€ per 1M images", _VGG16_EMR, "usd_per_million", note="euros, not converted"
    ),
    Published("emr_320", "fruits", 95, "s", _320, "wall", images=320, wall_s=95, mode="cold"),
    Published("plain_320", "fruits", 9, "s", _320, "wall", images=320, wall_s=9, mode="plain", workers=1),
    Published(
        "lfw_align_3_nodes",
        "faces",
        10.3,
        "min",
        _LFW_ALIGN,
        "wall",
        images=13233,
        wall_s=10.3 * 60,
        workers=3,
        mode="cold",
        job="faces-align",
        note="3 nodes; alignment only",
    ),
    Published("lfw_stream_snapshot", "faces", 40, "s per streamed snapshot", _LFW_ALIGN, "stream_latency"),
    Published(
        "face_recognition_4_workers",
        "faces",
        20,
        "min (about)",
        _FACE_RECOGNITION,
        "wall",
        images=13233,
        wall_s=20 * 60,
        workers=4,
        mode="cold",
    ),
)


def published_for(suite: str) -> list[Published]:
    """The published figures drawn beside a session of ``suite``."""
    return [p for p in PUBLISHED if p.suite == suite]
