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
