"""Helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, description: str,
               examples: list[str]) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` shows ``description`` and an Examples section."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    return sub.add_parser(name, help=help, description=description, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
