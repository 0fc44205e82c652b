"""The errors the judge reports as one line naming the culprit, never a traceback.  Each class carries
its exit code; the CLI maps the one base class, ``SimplenetError``:

* 2, the user's input: ``ConfigError`` (a setting), ``CheckpointError``, ``compare.datasets.DataError``,
  ``compare.plugins.PluginError``, ``torch_impl.device.DeviceError``;
* 3, ``NonFiniteLoss``: training stopped on a NaN or infinite loss;
* 4, ``ResourceError``: the machine failed the run (disk, memory, a lost DDP peer).
"""

from __future__ import annotations


class SimplenetError(Exception):
    """Base of every error the judge reports itself, in one line; ``exit_code`` is the process's."""

    exit_code = 2
    cause: BaseException | None = None  # the user's own exception behind it, for --traceback


class UserError(SimplenetError):
    """The user's input is at fault (exit code 2)."""

    exit_code = 2


class ConfigError(UserError, ValueError):
    """A setting that cannot work, in one line naming the setting and what to do."""


class NonFiniteLoss(SimplenetError, RuntimeError):
    """Training produced a NaN or infinite loss: stop at once and say where (exit code 3)."""

    def __init__(self, twin: str, step: int, value: float, detail: str = "", advice: str = "try a smaller --lr"):
        super().__init__(f"{twin} twin: loss became {value} at step {step}{detail}; training stopped ({advice})")
        self.twin, self.step = twin, step

    exit_code = 3


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used, in one line naming the file and what to do."""


class ResourceError(SimplenetError, RuntimeError):
    """The machine failed the run - disk full, a path that cannot be written, not enough memory - in
    one line naming the path or the size and what to do (exit code 4)."""

    exit_code = 4


class StepAbandoned(BaseException):
    """A training step that did not finish: the grace period after SIGINT/SIGTERM ran out, or
    ``--step-timeout`` did.  A BaseException, so that no plug-in's ``except Exception`` swallows it."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class _Signals:
    """How many real SIGINT/SIGTERM this process has received (the CLI's and the runner's handlers
    count them), so that a KeyboardInterrupt a plug-in raises itself is told from a Ctrl-C."""

    count = 0


SIGNALS = _Signals()
