"""Helpers the test files share: run the CLI in a subprocess, and assert a one-line error."""
from __future__ import annotations

import os
import subprocess
import sys


def cli(*args, cwd=None, env=None, **kw):
    """``python -m compare.cli ARGS`` in a subprocess (the process's own exit code and streams)."""
    return subprocess.run([sys.executable, "-m", "compare.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env={**os.environ, **(env or {})}, **kw)


def one_line(err: str) -> str:
    """The single line on stderr, with no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]
