"""The writer side of annotations.video: per-frame timestamps through the Matroska pipe, audio copy."""

import numpy as np
import pytest

from dftag.annotations.video import (
    MP4_AUDIO_CODECS,
    REFERENCE_REACH,
    VideoWriter,
    _ebml_size,
    probe,
    read_frames,
)
from tests.face_clips import add_audio, face_clip


def test_ebml_sizes_use_the_shortest_length_and_avoid_the_reserved_value():
    assert _ebml_size(0) == b"\x80"
    assert _ebml_size(126) == b"\xfe"
    assert _ebml_size(127) == b"\x40\x7f"  # 0xff would mean 'unknown size'
    assert _ebml_size(3 * 1024 * 1024) == (0x10000000 | 3 * 1024 * 1024).to_bytes(4, "big")


def test_writer_keeps_variable_frame_rate_timestamps(tmp_path):
    times = [0.0, 0.04, 0.1, 0.5, 0.52, 1.25, 2.0]
    out = tmp_path / "vfr.mp4"
    with VideoWriter(out, 32, 24, fps=25) as writer:
        for i, t in enumerate(times):
            writer.write(np.full((24, 32, 3), 30 * i, np.uint8), t)
    frames = list(read_frames(out))
    assert [f.timestamp for f in frames] == pytest.approx(times, abs=1e-4)
    assert [int(f.image.mean()) for f in frames] == pytest.approx([30 * i for i in range(len(times))], abs=3)


def test_writer_default_timestamps_follow_fps_and_large_frames_fit(tmp_path):
    out = tmp_path / "big.mp4"
    with VideoWriter(out, 1280, 960, fps=5) as writer:  # 3.7 MB frames: 4-byte EBML sizes
        for i in range(3):
            writer.write(np.full((960, 1280, 3), 80 * i, np.uint8))
    assert [f.timestamp for f in read_frames(out)] == pytest.approx([0, 0.2, 0.4], abs=1e-4)


@pytest.mark.parametrize("codec, expected", [("aac", "aac"), ("libopus", "aac")])
def test_writer_copies_or_reencodes_audio(tmp_path, codec, expected):
    src = add_audio(face_clip(tmp_path / "v.mp4", frames=10), tmp_path / f"a_{codec}.mkv", codec)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 96, 64, fps=10, audio_from=src) as writer:
        for f in read_frames(src):
            writer.write(f.image, f.timestamp)
    info = probe(out)
    assert info.has_audio and info.audio_codec == expected
    assert probe(src).audio_codec in MP4_AUDIO_CODECS or codec != "aac"


def test_writer_without_audio_source_audio(tmp_path):
    src = face_clip(tmp_path / "v.mp4", frames=4)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 96, 64, fps=10, audio_from=src) as writer:
        for f in read_frames(src):
            writer.write(f.image, f.timestamp)
    assert not probe(out).has_audio and len(list(read_frames(out))) == 4


def test_reference_only_skips_frames_and_keeps_the_pixels(tmp_path):
    clip = face_clip(tmp_path / "v.mp4", frames=40)
    every = {f.index: f.image for f in read_frames(clip)}
    # odd frames asked for: a non-reference one is never decoded, and the next frame serves in its place
    wanted = list(range(1, 40, 2))
    served = list(read_frames(clip, indices=wanted, reference_only=True))
    assert [f.index for f in served] != wanted and len(served) >= 15
    assert all(np.array_equal(f.image, every[f.index]) for f in served)
    assert all(f.index in wanted or f.index - 1 in wanted for f in served)
    # sparse indices are each served by the first decoded frame at or after them, never at or past the next one
    sparse = [0, 7, 13, 30, 39]
    got = [f.index for f in read_frames(clip, indices=sparse, reference_only=True)]
    assert len(got) >= 4
    for index in got:
        n = max(w for w in sparse if w <= index)
        later = [w for w in sparse if w > n]
        assert index - n <= REFERENCE_REACH and (not later or index < later[0])
    # adjacent indices leave nothing to skip: exactly the frames asked for
    assert [f.index for f in read_frames(clip, indices=range(10), reference_only=True)] == list(range(10))
    with pytest.raises(ValueError, match="reference_only"):
        next(read_frames(clip, reference_only=True))
