"""FaceNet's InceptionResnetV1 in PyTorch: 160 x 160 RGB face crops → 512-d L2-normalised embeddings.

The network is ported from ``facenet_pytorch/models/inception_resnet_v1.py`` of the facenet-pytorch package
(v2.6.0, https://github.com/timesler/facenet-pytorch) by Tim Esler, used under the MIT licence:
"MIT License, Copyright (c) 2019 Timothy Esler". Only the embedding path (``classify=False``) is kept, with
upstream's module and attribute names, so its published state_dicts (``20180402-114759-vggface2.pt``,
``20180408-102900-casia-webface.pt``) load once their ``logits.*`` classifier keys are dropped. The package
itself cannot be installed here (it pins torch<2.3 and imports torchvision), and this module downloads nothing
by itself: ``fetch_weights`` is called explicitly with a URL and its SHA-256.

    Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
    documentation files (the "Software"), to deal in the Software without restriction, including without
    limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the
    Software, and to permit persons to whom the Software is furnished to do so, subject to the following
    conditions: The above copyright notice and this permission notice shall be included in all copies or
    substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
    OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
    NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
    SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

import hashlib
import os
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

DIM = 512
INPUT_SIZE = 160


class BasicConv2d(nn.Module):
    """Convolution (no bias) → batch norm (TensorFlow's eps) → ReLU."""

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        kernel_size: int | tuple[int, int],
        stride: int,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_planes, eps=0.001, momentum=0.1, affine=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Block35(nn.Module):
    """Inception-ResNet-A: 35 x 35 grid (17 x 17 at 160 px), 256 channels, scaled residual."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(256, 32, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 32, kernel_size=1, stride=1),
            BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1),
        )
        self.branch2 = nn.Sequential(
            BasicConv2d(256, 32, kernel_size=1, stride=1),
            BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1),
            BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1),
        )
        self.conv2d = nn.Conv2d(96, 256, kernel_size=1, stride=1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        return self.relu(self.conv2d(out) * self.scale + x)


class Block17(nn.Module):
    """Inception-ResNet-B: 896 channels, factorised 1x7/7x1 branch, scaled residual."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(896, 128, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(896, 128, kernel_size=1, stride=1),
            BasicConv2d(128, 128, kernel_size=(1, 7), stride=1, padding=(0, 3)),
            BasicConv2d(128, 128, kernel_size=(7, 1), stride=1, padding=(3, 0)),
        )
        self.conv2d = nn.Conv2d(256, 896, kernel_size=1, stride=1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        return self.relu(self.conv2d(out) * self.scale + x)


class Block8(nn.Module):
    """Inception-ResNet-C: 1792 channels, factorised 1x3/3x1 branch, scaled residual (ReLU unless ``noReLU``)."""

    def __init__(self, scale: float = 1.0, noReLU: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.noReLU = noReLU
        self.branch0 = BasicConv2d(1792, 192, kernel_size=1, stride=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(1792, 192, kernel_size=1, stride=1),
            BasicConv2d(192, 192, kernel_size=(1, 3), stride=1, padding=(0, 1)),
            BasicConv2d(192, 192, kernel_size=(3, 1), stride=1, padding=(1, 0)),
        )
        self.conv2d = nn.Conv2d(384, 1792, kernel_size=1, stride=1)
        if not self.noReLU:
            self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        out = self.conv2d(out) * self.scale + x
        return out if self.noReLU else self.relu(out)


class Mixed_6a(nn.Module):
    """Reduction-A: 256 → 896 channels, grid halved."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, kernel_size=3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 192, kernel_size=1, stride=1),
            BasicConv2d(192, 192, kernel_size=3, stride=1, padding=1),
            BasicConv2d(192, 256, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed_7a(nn.Module):
    """Reduction-B: 896 → 1792 channels, grid halved."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(
            BasicConv2d(896, 256, kernel_size=1, stride=1),
            BasicConv2d(256, 384, kernel_size=3, stride=2),
        )
        self.branch1 = nn.Sequential(
            BasicConv2d(896, 256, kernel_size=1, stride=1),
            BasicConv2d(256, 256, kernel_size=3, stride=2),
        )
        self.branch2 = nn.Sequential(
            BasicConv2d(896, 256, kernel_size=1, stride=1),
            BasicConv2d(256, 256, kernel_size=3, stride=1, padding=1),
            BasicConv2d(256, 256, kernel_size=3, stride=2),
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class InceptionResnetV1(nn.Module):
    """facenet-pytorch's InceptionResnetV1 without the classifier: N x 3 x 160 x 160 → N x 512, unit L2 norm.

    Input is standardised as ``(pixel - 127.5) / 128``; call ``eval()`` before inference (batch norm, dropout).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv2d_1a = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, kernel_size=3, stride=1)
        self.conv2d_2b = BasicConv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, kernel_size=1, stride=1)
        self.conv2d_4a = BasicConv2d(80, 192, kernel_size=3, stride=1)
        self.conv2d_4b = BasicConv2d(192, 256, kernel_size=3, stride=2)
        self.repeat_1 = nn.Sequential(*(Block35(scale=0.17) for _ in range(5)))
        self.mixed_6a = Mixed_6a()
        self.repeat_2 = nn.Sequential(*(Block17(scale=0.10) for _ in range(10)))
        self.mixed_7a = Mixed_7a()
        self.repeat_3 = nn.Sequential(*(Block8(scale=0.20) for _ in range(5)))
        self.block8 = Block8(noReLU=True)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.6)
        self.last_linear = nn.Linear(1792, 512, bias=False)
        self.last_bn = nn.BatchNorm1d(512, eps=0.001, momentum=0.1, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2d_1a(x)
        x = self.conv2d_2a(x)
        x = self.conv2d_2b(x)
        x = self.maxpool_3a(x)
        x = self.conv2d_3b(x)
        x = self.conv2d_4a(x)
        x = self.conv2d_4b(x)
        x = self.repeat_1(x)
        x = self.mixed_6a(x)
        x = self.repeat_2(x)
        x = self.mixed_7a(x)
        x = self.repeat_3(x)
        x = self.block8(x)
        x = self.avgpool_1a(x)
        x = self.dropout(x)
        x = self.last_linear(x.view(x.shape[0], -1))
        x = self.last_bn(x)
        return F.normalize(x, p=2, dim=1)


def load(weights: str, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """Load a facenet-pytorch state_dict file into an eval-mode model; return ``embed(images)``.

    ``weights`` is a local file holding a state_dict (or a dict with a ``"state_dict"`` entry); its ``logits.*``
    classifier keys are ignored, every other key must match. ``threads`` sets torch's intra-op threads (process
    wide). ``embed`` maps a uint8 N x 160 x 160 x 3 RGB batch to float32 N x 512 unit-norm embeddings.
    Raises ValueError if the file is not such a state_dict.
    """
    torch.set_num_threads(threads)
    model = InceptionResnetV1()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        state = {}
    for key in [k for k in state if str(k).startswith("logits.")]:
        del state[key]  # in place: keeps the OrderedDict's _metadata (batch-norm versions) for load_state_dict
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        expected = model.state_dict()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        misshaped = [k for k, v in expected.items() if k in state and getattr(state[k], "shape", None) != v.shape]
        listed = f" ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})" if missing else ""
        raise ValueError(
            f"{weights} is not an InceptionResnetV1 (facenet-pytorch) state_dict: "
            f"{len(missing)} missing keys{listed}, {len(unexpected)} unexpected, "
            f"{len(misshaped)} of the wrong shape"
        ) from exc
    model.eval()

    def embed(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(
                f"expected a uint8 RGB batch of shape (N, {INPUT_SIZE}, {INPUT_SIZE}, 3), "
                f"got {images.dtype} {images.shape}"
            )
        if len(images) == 0:
            return np.empty((0, DIM), dtype=np.float32)
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
        with torch.inference_mode():
            return model((x - 127.5) / 128.0).numpy()  # upstream's fixed_image_standardization

    return embed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_weights(url: str, sha256: str, cache_dir: Path) -> Path:
    """Download ``url`` (http, https or file) once into ``cache_dir``, named after its last path segment.

    A file already there with the right SHA-256 is returned as is; otherwise the download streams to a temporary
    file in ``cache_dir``, is checked and renamed into place atomically. Raises ValueError (deleting the temporary file)
    if the downloaded bytes do not hash to ``sha256``.
    """
    parsed = urllib.parse.urlparse(url)
    name = PurePosixPath(urllib.parse.unquote(parsed.path)).name
    if parsed.scheme not in ("http", "https", "file") or name in ("", ".", ".."):
        raise ValueError(f"{url}: expected an http(s) or file URL ending in a file name")
    expected = sha256.strip().lower()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / name
    if target.is_file() and _sha256(target) == expected:
        return target
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise ValueError(f"{url}: SHA-256 mismatch: expected {expected}, got {digest.hexdigest()}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a successful rename
    return target
