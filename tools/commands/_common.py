"""Helpers shared by the subcommand modules: parsers with examples, numeric option types whose range is
checked by the parser and shown in ``--help``, the inputs of a dataset, and error lines."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from dftag.core.errors import DftagError
from dftag.core.thresholds import FACE_SCORE_THRESHOLD

# Library parameters whose flag is not simply --name-with-dashes.
FLAGS = {"overwrite": "--force",
         # the crop classifier's fields (ClassifierConfig) as the resume check names them
         **{f"classifier_{field}": option for field, option in (
             ("crop_size", "--crop-size"), ("margin", "--crop-margin"), ("fake_source", "--fakes"),
             ("lower_face", "--lower-face"), ("crop_augment", "--crop-augment"), ("sam_rho", "--sam-rho"),
             ("flip_average", "--flip-average"))}}


class Number:
    """An argparse ``type``: an ``int`` or ``float`` in a range, e.g. ``Number(float, 0, 1)`` for a
    probability. Out-of-range values (and NaN) are usage errors naming the range; ``--help`` shows the range
    after each option's help (:class:`HelpFormatter`)."""

    def __init__(self, kind: type = float, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False):
        self.kind, self.low, self.high, self.low_open, self.high_open = kind, low, high, low_open, high_open
        self.__name__ = "integer" if kind is int else "number"  # argparse: "invalid integer value: 'x'"

    @property
    def range(self) -> str:
        """The accepted values in words: ``0 to 1``, ``at least 1``, ``above 0, below 0.5``."""
        low, high = (None if v is None else f"{v:g}" for v in (self.low, self.high))
        if low is not None and high is not None and not (self.low_open or self.high_open):
            return f"{low} to {high}"
        parts = []
        if low is not None:
            parts.append(f"above {low}" if self.low_open else f"at least {low}")
        if high is not None:
            parts.append(f"below {high}" if self.high_open else f"at most {high}")
        return ", ".join(parts) or "any number"

    def __call__(self, text: str) -> int | float:
        value = self.kind(text)  # ValueError: argparse's "invalid integer value"
        if isinstance(value, float) and math.isnan(value):
            raise argparse.ArgumentTypeError(f"must be a number ({self.range}), got {text}")
        if ((self.low is not None and (value <= self.low if self.low_open else value < self.low))
                or (self.high is not None and (value >= self.high if self.high_open else value > self.high))):
            raise argparse.ArgumentTypeError(f"must be {self.range}, got {text}")
        return value

    def __repr__(self) -> str:
        return f"Number({self.kind.__name__}, {self.range})"


probability = Number(float, 0, 1)
positive_int = Number(int, 1)
nonnegative_int = Number(int, 0)
positive_float = Number(float, 0, low_open=True)
nonnegative_float = Number(float, 0)


def int_range(low: int, high: int) -> Number:
    """argparse ``type``: an integer from ``low`` to ``high`` (both included)."""
    return Number(int, low, high)


def float_range(low: float | None, high: float | None, *, low_open: bool = False, high_open: bool = False
                ) -> Number:
    """argparse ``type``: a number between ``low`` and ``high`` (included unless ``*_open``)."""
    return Number(float, low, high, low_open=low_open, high_open=high_open)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; each option whose type is a :class:`Number` shows its range in brackets."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if isinstance(action.type, Number) and text is not None and text != argparse.SUPPRESS:
            text = f"{text} [{action.type.range}]"
        return text


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, description: str,
               examples: list[str]) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` shows ``description``, each numeric option's range and an Examples
    section."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    return sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=HelpFormatter)


def add_detection_report_options(p: argparse.ArgumentParser) -> None:
    """Options of the commands that run a detector over a split into a report (``evaluate``, ``report``)."""
    p.add_argument("--threshold", type=probability, default=FACE_SCORE_THRESHOLD,
                   help="score at which the operating point and example boxes are shown (default: %(default)s)")
    p.add_argument("--examples", type=nonnegative_int, default=6,
                   help="example frames in the report (with a model; default: 6)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per forward pass (default: 8)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def flag(parameter: str) -> str:
    """The command-line flag of a library parameter: ``overwrite`` is ``--force``, ``label_map`` ``--label-map``."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def error_line(err: DftagError) -> str:
    """``err`` as the command line shows it: the library's remedy spelled as the flag to use."""
    return err.line(flag, verb="use")


def print_error(command: str, text: str) -> None:
    """Print ``dftag COMMAND: error: TEXT`` to stderr on a line of its own, also while progress bars are drawn
    (they are cleared, and redrawn below it)."""
    from tqdm import tqdm

    tqdm.write(f"dftag {command}: error: {text}", file=sys.stderr)


def close_progress_bars() -> None:
    """Close the progress bars an error left open (an exception leaves a bar iterated in a ``for`` loop
    drawn), so that what is printed next starts on a line of its own."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is None:
        return
    for bar in list(getattr(tqdm.tqdm, "_instances", ())):
        try:
            bar.close()
        except Exception:  # a bar whose stream is gone: nothing to clear
            pass


def dataset_inputs(dataset: str | os.PathLike[str], *splits: str | None) -> list[Path]:
    """The files and folders a command reads from a dataset (a folder, or a COCO file inside one, as
    :func:`dftag.annotations.dataset.load_dataset` takes it): the split files (``None``: annotations.json)
    and the images folder. For :func:`dftag.core.outputs.check_outputs`."""
    from dftag.annotations.dataset import ANNOTATIONS_FILE, IMAGES_DIR

    path = Path(dataset)
    if not path.is_dir():
        return [path, path.parent / IMAGES_DIR]
    return [path / (f"{s}.json" if s else ANNOTATIONS_FILE) for s in (splits or (None,))] + [path / IMAGES_DIR]


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
X264_CRF = int_range(0, 51)
MAX_FRAME_PIXELS = 8192 * 8192  # frames are decoded, drawn and encoded whole: 200 MB each at this size


def check_frame_size(video: str | os.PathLike[str]) -> None:
    """Refuse, before any frame is decoded or any buffer allocated, a video whose (declared) frame size is
    larger than :data:`MAX_FRAME_PIXELS`: a header can claim 16000x16000 in a file of a few bytes."""
    from dftag.annotations.video import probe

    info = probe(video)
    if info.width * info.height > MAX_FRAME_PIXELS:
        raise DftagError(f"frame size {info.width}x{info.height} ({info.width * info.height / 1e6:.0f} Mpx) is "
                         f"larger than the {MAX_FRAME_PIXELS / 1e6:.0f} Mpx (8192x8192) dftag draws and encodes",
                         video)
