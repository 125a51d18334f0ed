"""End to end: the demo pipeline at toy size, through every real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dftag.annotations.video import probe, read_frames


@pytest.mark.slow
def test_toy_demo_runs_every_step_and_refuses_to_mix_runs(dftag, tmp_path):
    out = tmp_path / "demo"
    code, stdout, stderr = dftag("demo", "--out", out, "--toy")
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["AP50"]) == {"real", "fake"}
    assert 0.0 <= summary["video_log_loss"] and summary["videos_scored"] >= 1
    assert "dftag demo finished" in stdout
    for key in ("report", "video_report"):
        assert Path(summary["outputs"][key]).is_file()
    annotated = sorted((out / "annotated").glob("*.mp4"))
    assert annotated and all(p.with_suffix(".json").is_file() for p in annotated)
    scores = (out / "scores.csv").read_text().splitlines()
    assert scores[0] == "filename,label" and len(scores) == summary["videos_scored"] + 1
    source = json.loads(annotated[0].with_suffix(".json").read_text())
    assert source["frames"] and len(list(read_frames(annotated[0]))) == len(source["frames"])
    assert probe(annotated[0]).codec == "h264"

    code, _, stderr = dftag("demo", "--out", out, "--toy")
    assert code == 1 and "--force" in stderr and stderr.count("\n") == 1


def test_a_failed_forced_demo_leaves_the_previous_one(tmp_path, monkeypatch):
    from dftag.pipeline import demo

    out = tmp_path / "demo"
    out.mkdir()
    (out / "summary.json").write_text("{}")

    def broken(*args, **kwargs):
        raise RuntimeError("sample data failed")

    monkeypatch.setattr(demo, "generate", broken)
    with pytest.raises(RuntimeError):
        demo.run_demo(out, demo.TOY, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    assert [p.name for p in out.iterdir()] == ["summary.json"]
