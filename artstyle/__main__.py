"""`python -m artstyle ...`: the command line (artstyle/cli.py)."""

import sys

from .cli import main

sys.exit(main(prog="python -m artstyle"))
