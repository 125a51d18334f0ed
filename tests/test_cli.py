"""The command line: every subcommand has complete help with examples; errors are one line."""

from __future__ import annotations

import argparse

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
