"""Helpers the test files share: run the CLI in a subprocess, assert a one-line error, a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def cli(*args, cwd=None, env=None, **kw):
    """``python -m compare.cli ARGS`` in a subprocess (the process's own exit code and streams)."""
    return subprocess.run(
        [sys.executable, "-m", "compare.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, **(env or {})},
        **kw,
    )


def one_line(err: str) -> str:
    """The single line on stderr, with no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# A cs231n example subclass whose loss(X, y) hangs for ever at its HANG_AT-th call (environment; unset: never),
# touching the file HANG_MARK first when that is set: appended to examples/cs231n_fc.py's source.
HANGING_PLUGIN = """
import os, time
class Hanging(FullyConnectedNet):
    calls = 0

    def loss(self, X, y=None):
        if y is not None:
            Hanging.calls += 1
            if os.environ.get("HANG_AT") and Hanging.calls == int(os.environ["HANG_AT"]):
                if os.environ.get("HANG_MARK"):
                    open(os.environ["HANG_MARK"], "w").close()
                while True:
                    time.sleep(0.05)
        return super().loss(X, y)
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a TensorBoard server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ranks_of(pid: int) -> list[str]:
    """The DDP ranks a ``--nproc`` command started: the children of its worker, the process its supervisor
    (``pid``, the command as started) forked (compare.supervisor)."""

    def children(p) -> list[str]:
        return subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout.split()

    return [rank for worker in children(pid) for rank in children(worker)]
