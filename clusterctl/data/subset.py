"""Image folders (one sub-folder per class): checking them and taking reproducible subsets."""

import random
import shutil
from pathlib import Path

from clusterctl.errors import SpecError
from workloads.common.images import IMAGE_SUFFIXES

DEFAULT_DATA = Path("../shared/data/fruits-360/Test")  # the benchmarks' full set (this project's CI has it)
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


def make_subset(
    root: Path,
    dest: Path,
    classes: int | None,
    per_class: int | None,
    seed: int,
    min_per_class: int = 1,
) -> Path:
    """Copy ``per_class`` images of each of ``classes`` classes (seeded choice of both) into ``dest``.

    Only classes with at least ``min_per_class`` images are candidates (e.g. LFW people with >= 40
    photos); ``None`` takes every class, or every image of a class. The same arguments always give
    the same files; ``dest`` is replaced.
    """
    found = class_images(root)
    eligible = sorted(name for name, files in found.items() if len(files) >= min_per_class)
    if not eligible:
        raise SpecError(f"{root}: no class has {min_per_class} or more images; lower --min-per-class")
    rng = random.Random(seed)
    chosen = sorted(rng.sample(eligible, min(classes, len(eligible)))) if classes is not None else eligible
    if dest.exists():
        shutil.rmtree(dest)
    for name in chosen:
        files = found[name]
        picked = sorted(rng.sample(files, min(per_class, len(files)))) if per_class is not None else files
        (dest / name).mkdir(parents=True)
        for f in picked:
            shutil.copyfile(f, dest / name / f.name)
    return dest


def make_sample(root: Path, dest: Path, images: int | None, seed: int, option: str = "--data") -> list[Path]:
    """Copy ``images`` seeded images drawn from all of ``root``'s classes (``None``: every image) into ``dest``,
    each in its class folder; the copies, sorted. Same arguments, same files; ``dest`` is replaced."""
    found = class_images(root, option)
    picked = sorted(f for fs in found.values() for f in fs) if images is None else seeded_images(found, images, seed)
    if dest.exists():
        shutil.rmtree(dest)
    copies = []
    for f in picked:
        (dest / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest / f.parent.name / f.name)
        copies.append(dest / f.parent.name / f.name)
    return sorted(copies)
