"""workloads.faces.facenet_model: the InceptionResnetV1 port (vs upstream facenet-pytorch), its loader and
fetch_weights."""

import base64
import hashlib
import http.server
import importlib.util
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the workloads extra (torch==2.13.0) is not installed")

from workloads.faces.facenet_model import DIM, INPUT_SIZE, InceptionResnetV1, fetch_weights, load  # noqa: E402

# facenet-pytorch 2.6.0's InceptionResnetV1() (no logits): parameters, state_dict entries, and the SHA-256 of
# repr(sorted((key, tuple(shape)) for each state_dict entry)); test_port_matches_upstream_source checks them
# against upstream's own module too.
UPSTREAM_PARAMS = 23_482_624
UPSTREAM_ENTRIES = 714
UPSTREAM_SIGNATURE = "2c9c14578327e5f3743d9816f91de249ca7693d0fb9984999e2ab61429a563ed"
# facenet_pytorch/models/inception_resnet_v1.py of the facenet_pytorch-2.6.0 wheel, vendored unchanged (MIT
# licence, see the folder's README.md and LICENSE.md), and its hash as the wheel's RECORD lists it.
UPSTREAM_SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "facenet_pytorch_2_6_0" / "inception_resnet_v1.py"
UPSTREAM_RECORD_SHA256 = "7ZrVFou0XaaIUKToRmfrZlImBoqV7J_dA_tVSFDXt0k"


def _signature(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _standardised(images: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(images).permute(0, 3, 1, 2).float() - 127.5) / 128.0


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> tuple[InceptionResnetV1, Path]:
    """A seeded random model, saved like upstream's files: with logits.* keys.

    Batch-norm parameters and statistics are random too, then last_bn's statistics are set from the features of
    a few calibration images, as training would: else the embedding is nearly the same for any input.
    """
    torch.manual_seed(0)
    model = InceptionResnetV1().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
        noise = np.random.default_rng(1).integers(0, 256, size=(6, INPUT_SIZE, INPUT_SIZE, 3))
        calibration = (noise * np.linspace(0.2, 1.0, 6)[:, None, None, None]).astype(np.uint8)
        features = []
        hook = model.last_linear.register_forward_hook(lambda module, args, out: features.append(out))
        model(_standardised(calibration))
        hook.remove()
        model.last_bn.running_mean.copy_(features[0].mean(0))
        model.last_bn.running_var.copy_(features[0].var(0))
    state = model.state_dict()
    state["logits.weight"] = torch.randn(10, DIM)
    state["logits.bias"] = torch.randn(10)
    path = tmp_path_factory.mktemp("facenet") / "random-vggface2.pt"
    torch.save(state, path)
    return model, path


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Two unlike RGB images: noise, and a dark picture with a bright square."""
    batch = np.random.default_rng(0).integers(0, 256, size=(2, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    batch[1] //= 8
    batch[1, 40:120, 40:120] = (250, 200, 150)
    return batch


def test_load_embeds_like_the_saved_module(saved_model, images, tmp_path):
    model, path = saved_model
    embed = load(str(path), 1)
    assert torch.get_num_threads() == 1
    out = embed(images)
    assert out.shape == (2, DIM) and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(embed(images), out)
    with torch.no_grad():
        expected = model(_standardised(images)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert np.linalg.norm(out[0] - out[1]) > 0.1  # the embedding depends on the image
    assert embed(images[:0]).shape == (0, DIM)
    wrapped = tmp_path / "wrapped.pt"  # {"state_dict": ...} files load the same
    torch.save({"state_dict": torch.load(path, weights_only=True)}, wrapped)
    np.testing.assert_allclose(load(str(wrapped), 1)(images[:1]), out[:1], rtol=1e-4, atol=1e-5)


def test_architecture_has_upstreams_parameters_and_keys():
    model = InceptionResnetV1()
    assert sum(p.numel() for p in model.parameters()) == UPSTREAM_PARAMS
    shapes = _signature(model)
    assert len(shapes) == UPSTREAM_ENTRIES and not any(k.startswith("logits.") for k in shapes)
    assert hashlib.sha256(repr(sorted(shapes.items())).encode()).hexdigest() == UPSTREAM_SIGNATURE


@pytest.fixture
def upstream_module(monkeypatch) -> types.ModuleType:
    """Upstream's own module: the vendored source file imported alone, its download/requests imports stubbed."""
    digest = hashlib.sha256(UPSTREAM_SOURCE.read_bytes()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == UPSTREAM_RECORD_SHA256, "not upstream's file"
    for name in (
        "requests",
        "requests.adapters",
        "facenet_pytorch",
        "facenet_pytorch.models",
        "facenet_pytorch.models.utils",
        "facenet_pytorch.models.utils.download",
    ):
        stub = types.ModuleType(name)
        stub.__path__ = []
        monkeypatch.setitem(sys.modules, name, stub)
    sys.modules["requests.adapters"].HTTPAdapter = object
    sys.modules["facenet_pytorch.models.utils.download"].download_url_to_file = None
    spec = importlib.util.spec_from_file_location("facenet_pytorch.models.inception_resnet_v1", UPSTREAM_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_port_matches_upstream_source(saved_model, images, upstream_module):
    """Same architecture and keys as upstream's network; upstream given the weights the port loads from a saved
    file (logits.* included, as upstream's files have them) computes the same embeddings."""
    upstream = upstream_module.InceptionResnetV1(pretrained=None, classify=False)
    model, path = saved_model
    assert list(_signature(upstream).items()) == list(_signature(model).items())
    assert sum(p.numel() for p in upstream.parameters()) == UPSTREAM_PARAMS
    assert hashlib.sha256(repr(sorted(_signature(upstream).items())).encode()).hexdigest() == UPSTREAM_SIGNATURE
    state = torch.load(path, weights_only=True)
    upstream.load_state_dict({k: v for k, v in state.items() if not k.startswith("logits.")}, strict=True)
    upstream.eval()
    with torch.no_grad():
        expected = upstream(_standardised(images)).numpy()  # upstream's fixed_image_standardization
    np.testing.assert_allclose(load(str(path), 1)(images), expected, rtol=1e-4, atol=1e-5)
    assert np.linalg.norm(expected[0] - expected[1]) > 0.1  # two images, two embeddings: not a constant output


def test_a_file_that_is_not_inception_resnet_v1_is_refused(saved_model, tmp_path):
    linear = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), linear)
    with pytest.raises(ValueError) as err:
        load(str(linear), 1)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg == (
        f"{linear} is not an InceptionResnetV1 (facenet-pytorch) state_dict: {UPSTREAM_ENTRIES} missing "
        "keys (conv2d_1a.conv.weight, conv2d_1a.bn.weight, conv2d_1a.bn.bias, ...), 2 unexpected, "
        "0 of the wrong shape"
    )

    state = saved_model[0].state_dict()
    del state["repeat_2.3.conv2d.bias"]
    state["last_linear.weight"] = torch.zeros(DIM, 1000)
    broken = tmp_path / "broken.pt"
    torch.save(state, broken)
    with pytest.raises(
        ValueError,
        match=r"broken\.pt is not an InceptionResnetV1 \(facenet-pytorch\) state_dict: "
        r"1 missing keys \(repeat_2\.3\.conv2d\.bias\), 0 unexpected, "
        r"1 of the wrong shape$",
    ):
        load(str(broken), 1)


def test_wrong_input_shape_or_dtype_is_refused(saved_model, images):
    embed = load(str(saved_model[1]), 1)
    for bad in (
        images[0],
        images.transpose(0, 3, 1, 2),
        np.zeros((2, 160, 160, 4), np.uint8),
        np.zeros((1, 128, 128, 3), np.uint8),
        images.astype(np.float32),
    ):
        with pytest.raises(ValueError, match=r"expected a uint8 RGB batch of shape \(N, 160, 160, 3\), got "):
            embed(bad)


@pytest.fixture
def http_root(tmp_path):
    """A directory served over HTTP on 127.0.0.1: (directory, base URL, list of paths requested)."""
    root = tmp_path / "served"
    root.mkdir()
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_port}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_fetch_weights_downloads_once_and_checks_the_hash(http_root, tmp_path):
    root, base, hits = http_root
    blob = bytes(range(256)) * 4099  # > one read chunk
    (root / "w.pt").write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    cache = tmp_path / "cache"

    got = fetch_weights(f"{base}/w.pt", sha, cache)
    assert got == cache / "w.pt" and got.read_bytes() == blob and hits == ["/w.pt"]
    assert fetch_weights(f"{base}/w.pt", sha.upper(), cache) == got and hits == ["/w.pt"]  # cached: no request
    got.write_bytes(b"truncated")
    assert fetch_weights(f"{base}/w.pt", sha, cache).read_bytes() == blob and len(hits) == 2  # bad copy replaced

    (root / "other.pt").write_bytes(b"other bytes")
    actual = hashlib.sha256(b"other bytes").hexdigest()
    with pytest.raises(ValueError, match=rf"^{base}/other\.pt: SHA-256 mismatch: expected {'0' * 64}, got {actual}$"):
        fetch_weights(f"{base}/other.pt", "0" * 64, cache)
    assert [p.name for p in cache.iterdir()] == ["w.pt"]  # no other.pt, no temporary file

    assert fetch_weights((root / "other.pt").as_uri(), actual, tmp_path / "c2").read_bytes() == b"other bytes"
    assert len(hits) == 3
