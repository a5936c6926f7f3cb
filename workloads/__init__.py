"""PySpark workloads shipped with clusterctl. Each runs as ``spark-submit workloads/<module>.py ...``
and never imports clusterctl, so it runs unchanged on any cluster.

``WORKLOADS`` maps the names ``clusterctl submit`` accepts to module names in this package.
"""

WORKLOADS: dict[str, str] = {
    "census": "image_census",
    "faces-align": "faces_align",
    "faces-average": "faces_average",
    "faces-classify": "faces_classify",
    "faces-embed": "faces_embed",
    "faces-stream": "faces_stream",
    "faces-verify": "faces_verify",
    "fruits": "fruits_features",
    "pi": "spark_pi",
}

# File suffixes the image workloads read (matched case-insensitively).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")
