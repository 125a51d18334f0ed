"""``python -m dftag``: the command line."""

import sys

from dftag.tools.cli import main

sys.exit(main())
