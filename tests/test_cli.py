"""The command line: every subcommand has complete help with examples; errors are one line."""

from __future__ import annotations

import argparse

import pytest

from dftag.tools.cli import build_parser


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_help_has_description_and_examples():
    commands = _subcommands()
    assert commands, "no subcommands registered"
    for name, sub in commands.items():
        text = sub.format_help()
        assert "examples:" in text and f"dftag {name}" in text, name
        assert sub.description, name


def test_top_level_help_lists_commands(dftag):
    code, out, _ = dftag("--help")
    assert code == 0
    for name in _subcommands():
        assert name in out


def test_unknown_command_is_a_usage_error(dftag):
    code, _, err = dftag("no-such-command")
    assert code == 2 and "invalid choice" in err


def test_a_command_imports_only_its_own_module():
    import subprocess
    import sys

    code = ("import sys\nfrom dftag.tools.cli import main\ntry:\n    main(['info', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, 'dftag.tools.commands.train' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == ["False", "False"]


def test_library_errors_name_parameters_and_the_cli_spells_them_as_flags():
    from dftag.core.errors import DftagError
    from dftag.tools.commands._common import error_line

    err = DftagError("a resumed run keeps its saved settings; {parameter} cannot change", "run/config.json",
                     parameter="label_map", fix=("overwrite", "to replace it"))
    assert str(err) == ("run/config.json: a resumed run keeps its saved settings; label_map cannot change "
                        "(set overwrite to replace it)")
    assert error_line(err) == ("run/config.json: a resumed run keeps its saved settings; --label-map cannot "
                               "change (use --force to replace it)")


def _all_parsers(parser: argparse.ArgumentParser, name: str = "dftag"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _all_parsers(sub, f"{name} {sub_name}")


def test_every_numeric_option_is_range_checked_and_shows_its_range():
    """Issue 11: a number outside an option's range is a usage error, and --help says the range."""
    from dftag.tools.commands._common import Number

    unchecked, unshown = [], []
    for name, parser in _all_parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if action.type in (int, float):
                unchecked.append(f"{name} {action.option_strings or action.dest}")
            if isinstance(action.type, Number) and f"[{action.type.range}]" not in " ".join(text.split()):
                unshown.append(f"{name} {action.option_strings}")
    assert not unchecked, f"plain int/float options (use a _common.Number type): {unchecked}"
    assert not unshown, unshown


def test_number_types_name_the_range():
    from dftag.tools.commands._common import Number, float_range, int_range, positive_int, probability

    assert probability("0.25") == 0.25 and positive_int("3") == 3 and int_range(0, 51)("51") == 51
    for parse, text, message in ((probability, "2", "must be 0 to 1, got 2"), (probability, "nan", "must be a number"),
                                 (positive_int, "0", "must be at least 1, got 0"),
                                 (float_range(0, 0.5, low_open=True, high_open=True), "0.5",
                                  "must be above 0, below 0.5, got 0.5"),
                                 (Number(float, 0, low_open=True), "-1", "must be above 0, got -1")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)
    with pytest.raises(ValueError):
        positive_int("1.5")


def test_out_of_range_option_is_a_usage_error_with_the_range(dftag):
    code, _, err = dftag("evaluate-videos", "--scores", "s.csv", "--labels", "l.csv", "--out", "r", "--bins", "0")
    assert code == 2 and "argument --bins: must be at least 1, got 0" in err
    code, out, _ = dftag("evaluate-videos", "--help")
    assert code == 0 and "[above 0, below 0.5]" in " ".join(out.split())
