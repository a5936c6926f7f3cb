"""Which files are images and what their label is: the rules every image workload shares (stdlib only)."""

from pathlib import PurePath
from urllib.parse import unquote

# File suffixes the image workloads read (matched case-insensitively).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")

_EXTENSIONS = [suffix[1:] for suffix in IMAGE_SUFFIXES]
# The same suffixes as a Hadoop path glob (Spark's pathGlobFilter is case-sensitive): *.{jpg,...,JPG,...}
IMAGE_GLOB = "*.{" + ",".join(_EXTENSIONS + [e.upper() for e in _EXTENSIONS]) + "}"


def is_image(path: PurePath) -> bool:
    """Whether ``path`` has one of ``IMAGE_SUFFIXES`` (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def label_from_uri(uri: str) -> str:
    """An image's label: the name of its parent folder, URL-decoded (file URIs encode the spaces in class names)."""
    return unquote(uri.split("/")[-2])
