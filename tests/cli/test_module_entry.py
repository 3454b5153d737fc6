"""``python -m verk_compat`` is the ``verk-compat`` command line."""

from __future__ import annotations

import subprocess
import sys

from verk_compat import __version__


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "verk_compat", "--version"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == f"verk-compat, version {__version__}"
