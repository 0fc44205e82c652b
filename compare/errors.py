"""User mistakes, each reported as one line naming the culprit (exit code 2), never a traceback."""


class ConfigError(ValueError):
    """A setting that cannot work, in one line naming the setting and what to do."""


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss: stop at once and say where (exit code 3)."""

    def __init__(self, twin: str, step: int, value: float):
        super().__init__(f"{twin} twin: loss became {value} at step {step}; training stopped "
                         "(try a smaller --lr)")
        self.twin, self.step = twin, step


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, in one line naming the file and what to do."""


class ResourceError(RuntimeError):
    """The machine failed the run - disk full, a path that cannot be written, not enough memory - in
    one line naming the path or the size and what to do (exit code 4)."""


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
