"""The `eventreg` console script. `--version` is answered before the command-line
framework is imported, so that scripts checking it pay only for Python's start."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from eventreg import __version__

        print(f"eventreg {__version__}")
        return
    from eventreg.cli.app import main as run

    run()
