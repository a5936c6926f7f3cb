"""The face jobs chained on a real local Spark cluster with real LFW people."""

import json
import os
import random
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.conftest import DATA
from tests.support.local_cluster import started_cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17+"),
    pytest.mark.skipif(not (DATA / "lfw").is_dir(), reason=f"real images not available: {DATA}/lfw is missing"),
]
pytest.importorskip("dlib", reason="the faces extra (dlib-bin, face-recognition-models) is not installed")

# 4 people with many photos are the classes: their first 25 photos are the input, the first 20 of those train
# (--split first) and 5 test; their next photos are streamed. Strangers are other people with one photo each:
# 8 in the input (fewer faces than --min-images, so not classes: the faces the unknown-person gates are measured
# on) and 4 more streamed. Both gates are the defaults, learnt from the training faces. Worked out offline over
# 200 seeded draws of such data from LFW: known faces were never named as someone else, >= 88% were named,
# and >= 88% of strangers were rejected in 99% of draws; the bounds below leave room under that.
PEOPLE, PER_PERSON, TRAIN, STRANGERS, STREAMED_STRANGERS = 4, 25, 20, 8, 4
IMAGES = PEOPLE * PER_PERSON + STRANGERS


def _json_line(stdout: str) -> dict:
    return json.loads([ln for ln in stdout.splitlines() if ln.startswith("{")][-1])


def _no_face_image() -> Image.Image:
    """A smooth colour gradient with a disc: an image without a face."""
    y, x = np.mgrid[0:200, 0:240]
    rgb = np.stack([x % 256, y % 256, (x + y) // 2 % 256], axis=-1).astype(np.uint8)
    rgb[(x - 120) ** 2 + (y - 100) ** 2 < 40**2] = (200, 30, 30)
    return Image.fromarray(rgb)


@pytest.fixture(scope="module")
def people():
    """4 seeded people with at least PER_PERSON + 2 photos: PER_PERSON of each are the input, 2 more are streamed."""
    lfw = DATA / "lfw"
    eligible = sorted(p.name for p in lfw.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= PER_PERSON + 2)
    return random.Random(5).sample(eligible, PEOPLE)


@pytest.fixture(scope="module")
def strangers(people):
    """Seeded other people, one photo each: STRANGERS for the input, then STREAMED_STRANGERS for the stream."""
    others = sorted(p for p in (DATA / "lfw").iterdir() if p.is_dir() and p.name not in people)
    return [sorted(p.glob("*.jpg"))[0] for p in random.Random(6).sample(others, STRANGERS + STREAMED_STRANGERS)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from started_cluster(tmp_path_factory.mktemp("faces-cluster"))


@pytest.fixture(scope="module")
def lfw_input(people, strangers, tmp_path_factory):
    root = tmp_path_factory.mktemp("faces-input")
    for name in people:
        (root / name).mkdir()
        for f in sorted((DATA / "lfw" / name).glob("*.jpg"))[:PER_PERSON]:
            shutil.copy(f, root / name / f.name)
    for f in strangers[:STRANGERS]:
        (root / f.parent.name).mkdir()
        shutil.copy(f, root / f.parent.name / f.name)
    (root / "Nobody").mkdir()
    _no_face_image().save(root / "Nobody" / "Nobody_0001.jpg")
    (root / "Nobody" / "Nobody_0002.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    return root


@pytest.fixture(scope="module")
def aligned(cluster, lfw_input):
    proc = cluster.cli("submit", "faces-align", "--input", str(lfw_input))
    return _json_line(proc.stdout), cluster.root / "faces" / "aligned"


@pytest.fixture(scope="module")
def embedded(cluster, aligned):
    proc = cluster.cli("submit", "faces-embed")  # default paths chain from faces-align's
    table = pq.read_table(cluster.root / "faces" / "embeddings" / "embeddings").to_pandas()
    return _json_line(proc.stdout), table


def test_align_reports_every_image(aligned):
    printed, out = aligned
    summary = json.loads((out / "summary.json").read_text())
    assert {k: v for k, v in summary.items() if k != "failures"} == printed
    assert summary["files"] == IMAGES + 2
    assert (summary["no_face"], summary["undecodable"]) == (1, 1)
    assert summary["images_with_face"] >= IMAGES - 1 and summary["faces"] == summary["images_with_face"]
    reasons = {f["path"].rsplit("/", 1)[-1]: f["error"] for f in summary["failures"]}
    assert reasons["Nobody_0001.jpg"].startswith("no face found")
    assert reasons["Nobody_0002.jpg"].startswith("undecodable")


def test_aligned_crops_are_the_template_warp_of_each_face(aligned):
    """Default crop: the face's five landmarks warped onto SFace's 112 x 112 template, from the original photo."""
    from urllib.parse import unquote, urlparse

    from workloads.faces.detect import decode_rgb
    from workloads.faces.opencv_zoo import template_crop

    printed, out = aligned
    assert printed["options"]["crop"] == "template" and printed["models"]["yunet"]["sha256"]
    table = pq.read_table(out / "faces").to_pandas()
    faces = table[table["error"].isna()]
    assert len(faces) >= IMAGES - 1 and (faces["crop_kind"] == "template").all()
    assert set(faces["detector"]) <= {"yunet", "mtcnn"} and (faces["detector"] == "yunet").mean() >= 0.9
    assert all(len(b) == 4 and len(lm) == 10 for b, lm in zip(faces["box"], faces["landmarks"], strict=True))
    assert (faces["score"] > 0).all()
    for path, landmarks, crop_path, blob in zip(
        faces["path"], faces["landmarks"], faces["crop_path"], faces["crop"], strict=True
    ):
        on_disk = (out / "crops" / crop_path.split("/crops/", 1)[1]).read_bytes()
        assert on_disk == blob
        crop = decode_rgb(blob).astype(int)
        original = decode_rgb(open(unquote(urlparse(path).path), "rb").read())  # noqa: SIM115
        expected, _ = template_crop(original, np.asarray(landmarks).reshape(5, 2))
        assert crop.shape == (112, 112, 3) and np.abs(crop - expected).mean() < 3  # JPEG's loss only


def test_same_person_embeddings_are_closer(embedded, people):
    summary, table = embedded
    model = summary["model"]
    assert (model["name"], model["dim"], model["metric"]) == ("sface", 128, "cosine")
    assert model["models"]["sface"]["sha256"] and model["opencv"]
    assert summary["images_without_embedding"] == 2 and set(table["model"].dropna()) == {"sface"}
    ok = table[table["embedding"].notna() & table["label"].isin(people)]
    x = np.stack(ok["embedding"].to_numpy())
    assert x.shape[1] == 128 and np.isfinite(x).all()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)  # stored at unit length
    labels = ok["label"].to_numpy()
    d = 1 - x @ x.T  # cosine distance
    same = (labels[:, None] == labels[None]) & ~np.eye(len(x), dtype=bool)
    diff = labels[:, None] != labels[None]
    assert d[same].mean() < model["threshold"] < d[diff].mean()  # SFace's own threshold sits between them


def test_average_matches_the_mean_of_the_embeddings(cluster, embedded):
    _, table = embedded
    proc = cluster.cli("submit", "faces-average")
    printed = _json_line(proc.stdout)
    saved = json.loads((cluster.root / "faces" / "average" / "average.json").read_text())
    assert (saved["processed"], saved["failed"]) == (IMAGES + 2, 2) and printed["embedded"] == IMAGES
    expected = np.stack(table["embedding"].dropna().to_numpy()).mean(axis=0)
    np.testing.assert_allclose(saved["mean"], expected, atol=1e-5)
    per_label = pq.read_table(cluster.root / "faces" / "average" / "per_label").to_pandas()
    assert set(per_label["label"]) == set(table.loc[table["embedding"].notna(), "label"])


@pytest.fixture(scope="module")
def classified(cluster, embedded):
    proc = cluster.cli("submit", "faces-classify", "--min-images", str(PER_PERSON - 1), "--train-per-class", str(TRAIN))
    return _json_line(proc.stdout), cluster.root / "faces" / "classifier"


def test_classifier_is_well_above_chance(classified, people):
    printed, out = classified
    report = json.loads((out / "report.json").read_text())
    assert report["classes"] == PEOPLE and report["chance"] == 0.25
    assert report["train_faces"] == PEOPLE * TRAIN
    assert report["accuracy"] >= 0.85 and printed["accuracy"] == report["accuracy"]
    assert set(report["per_class"]) == set(people)
    assert sum(map(sum, report["confusion_matrix"]["rows_true_columns_predicted"])) == report["test_faces"]
    with Image.open(out / "confusion.png") as img:
        assert img.format == "PNG"
    assert (out / "model.joblib").stat().st_size > 0


def test_classifier_names_known_people_and_rejects_strangers(classified):
    """The open-set figures on the test faces of the 4 people and on the strangers' faces, both gates applied."""
    printed, out = classified
    gates = json.loads((out / "report.json").read_text())["open_set"]
    assert gates == printed["open_set"]
    assert 0.2 < gates["distance"] < 0.8 and gates["threshold"] == 0.5
    assert STRANGERS - 1 <= gates["unknown_faces"] <= STRANGERS  # a stranger's photo may show no findable face
    assert gates["unknown_rejected_rate"] >= 0.75  # strangers are rejected
    assert gates["known_accepted_rate"] >= 0.8  # known people's new photos are named ...
    assert gates["accuracy_of_accepted"] >= 0.95  # ... and named right
    # the gates do the rejecting: the classifier's probability alone accepts (nearly) every stranger
    assert gates["unknown_rejected_rate"] > gates["probability_only"]["unknown_rejected_rate"]


def test_verify_on_pairs_of_these_people(cluster, embedded, people, tmp_path):
    n = PER_PERSON
    matched = [f"{p}\t{i}\t{j}" for p in people for i, j in ((1, 2), (3, 4), (5, n))]
    mismatched = [
        f"{a}\t{shift + k}\t{people[(k + shift) % PEOPLE]}\t{n - shift}"
        for shift in (1, 2, 3)
        for k, a in enumerate(people)
    ]
    per_fold = 6
    body = matched[:per_fold] + mismatched[:per_fold] + matched[per_fold:] + mismatched[per_fold:]
    (tmp_path / "pairs.txt").write_text(f"2\t{per_fold}\n" + "\n".join(body) + "\n")
    proc = cluster.cli("submit", "faces-verify", "--pairs", str(tmp_path / "pairs.txt"))
    printed = _json_line(proc.stdout)
    report = json.loads((cluster.root / "faces" / "verify" / "report.json").read_text())
    assert (report["pairs"], report["folds"]) == (24, 2) and printed["accuracy_mean"] == report["accuracy_mean"]
    assert report["accuracy_mean"] >= 0.8 and report["auc"] >= 0.9
    with Image.open(cluster.root / "faces" / "verify" / "roc.png") as img:
        assert img.format == "PNG"

    bad = tmp_path / "bad_pairs.txt"
    bad.write_text("10\t300\nAlice\t1\n")
    proc = cluster.cli("submit", "faces-verify", "--pairs", str(bad), check=False)
    assert proc.returncode != 0 and "--pairs" in proc.stderr and "header promises" in proc.stderr


def test_stream_names_known_people_rejects_strangers_and_resumes(cluster, classified, people, strangers, lfw_input):
    watch = cluster.root / "incoming"
    watch.mkdir()
    truth = {}  # snapshot -> who it shows (None: a stranger)
    for i, person in enumerate(people):
        for k in (0, 1):  # the two photos after the input's
            truth[f"known_{i}_{k}.jpg"] = person
            shutil.copy(sorted((DATA / "lfw" / person).glob("*.jpg"))[PER_PERSON + k], watch / f"known_{i}_{k}.jpg")
    for i, f in enumerate(strangers[STRANGERS:]):  # people neither trained on nor measured in faces-classify
        truth[f"stranger_{i}.jpg"] = None
        shutil.copy(f, watch / f"stranger_{i}.jpg")
    shutil.copy(lfw_input / "Nobody" / "Nobody_0001.jpg", watch / "no_face.jpg")
    proc = cluster.cli("submit", "faces-stream", "--watch", str(watch), "--once")
    printed = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith('{"path"')]
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in printed}
    assert set(rows) == {*truth, "no_face.jpg"}
    assert rows["no_face.jpg"]["error"].startswith("no face found") and rows["no_face.jpg"]["predicted"] is None
    gate = json.loads((classified[1] / "report.json").read_text())["open_set"]["distance"]
    known = {name: who for name, who in truth.items() if who}
    misnamed = {
        n: rows[n]["predicted"] for n, who in known.items() if rows[n]["predicted"] not in (who, "unknown", None)
    }
    assert misnamed == {}  # a known person is never named as someone else ...
    named = [n for n, who in known.items() if rows[n]["predicted"] == who]
    assert len(named) >= 6, {n: rows[n] for n in known}  # ... and named on at least 6 of 8 new photos
    verdicts = {n: rows[n]["predicted"] for n, who in truth.items() if who is None}
    assert list(verdicts.values()).count("unknown") >= STREAMED_STRANGERS - 1, verdicts  # strangers are rejected
    assert all(
        rows[n]["error"] is None and rows[n]["distance"] <= gate and rows[n]["probability"] >= 0.5 for n in named
    )
    results = cluster.root / "faces" / "stream" / "results"
    table = pq.read_table(results).to_pandas()
    assert len(table) == len(truth) + 1 and len(table["embedding"].dropna().iloc[0]) == 128

    # the checkpoint remembers what was processed: a second run only sees the new file. It is a named snapshot
    # again under a new name: same models, same answer.
    again = named[0]
    shutil.copy(watch / again, watch / "again.jpg")
    proc = cluster.cli("submit", "faces-stream", "--watch", str(watch), "--once")
    printed = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith('{"path"')]
    assert [r["path"].rsplit("/", 1)[-1] for r in printed] == ["again.jpg"]
    assert printed[0]["predicted"] == rows[again]["predicted"]
    assert printed[0]["distance"] == pytest.approx(rows[again]["distance"], abs=1e-5)
    assert len(pq.read_table(results)) == len(truth) + 2


def test_bad_inputs_are_one_line_errors(cluster, tmp_path):
    missing = cluster.cli(
        "submit", "faces-embed", "--input", str(tmp_path / "nothing"), "--output", str(tmp_path / "o"), check=False
    )
    assert missing.returncode != 0 and "run `clusterctl submit faces-align` first" in missing.stderr
    facenet = cluster.cli("submit", "faces-embed", "--model", "facenet", "--output", str(tmp_path / "o"), check=False)
    assert facenet.returncode != 0 and "--weights is required for facenet" in facenet.stderr
    dlib = cluster.cli("submit", "faces-embed", "--model", "dlib_resnet", "--output", str(tmp_path / "o"), check=False)
    assert dlib.returncode != 0 and "holds template crops but --model dlib_resnet reads square crops" in dlib.stderr
    assert "faces-align --crop square" in dlib.stderr and not (tmp_path / "o").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cluster.cli("submit", "faces-align", "--input", str(empty), "--output", str(tmp_path / "o"), check=False)
    assert proc.returncode != 0 and "no files matching" in proc.stderr
    assert not (tmp_path / "o").exists()
