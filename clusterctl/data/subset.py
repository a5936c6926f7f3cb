"""Image folders (one sub-folder per class): checking them and taking reproducible subsets."""

import random
import shutil
from pathlib import Path

from clusterctl.errors import SpecError
from workloads.common.images import IMAGE_SUFFIXES

DEFAULT_DATA = Path("../shared/data/fruits-360/Test")
DEFAULT_LFW = Path("../shared/data/lfw")
DEFAULT_LFW_META = Path("../shared/data/lfw_meta")


def class_images(root: Path, option: str = "--data") -> dict[str, list[Path]]:
    """Images per class folder under ``root``, sorted; an error naming ``option`` if there are none."""
    if not root.is_dir():
        raise SpecError(f"{option} {root}: no such directory; pass a folder with one sub-folder of images per class")
    classes = {
        d.name: sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(root.iterdir())
        if d.is_dir()
    }
    classes = {name: files for name, files in classes.items() if files}
    if not classes:
        raise SpecError(f"{option} {root}: no class sub-folders with .jpg/.jpeg/.png images")
    return classes


def seeded_images(classes: dict[str, list[Path]], images: int, seed: int) -> list[Path]:
    """``images`` images drawn without replacement, seeded, from all of ``classes`` (``class_images``'s result)."""
    files = sorted(f for fs in classes.values() for f in fs)
    return random.Random(seed).sample(files, min(images, len(files)))


def make_subset(root: Path, dest: Path, classes: int, per_class: int, seed: int) -> Path:
    """Copy ``per_class`` images of each of ``classes`` classes (seeded choice of both) into ``dest``.

    The same arguments always give the same files; ``dest`` is replaced.
    """
    found = class_images(root)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(sorted(found), min(classes, len(found))))
    if dest.exists():
        shutil.rmtree(dest)
    for name in chosen:
        files = found[name]
        (dest / name).mkdir(parents=True)
        for f in sorted(rng.sample(files, min(per_class, len(files)))):
            shutil.copyfile(f, dest / name / f.name)
    return dest
