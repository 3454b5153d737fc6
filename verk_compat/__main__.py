"""``python -m verk_compat``: the same command line as ``verk-compat``."""

from __future__ import annotations

from verk_compat.cli import main

if __name__ == "__main__":
    main(prog_name="verk-compat")
