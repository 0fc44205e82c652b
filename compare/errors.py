"""User mistakes, each reported as one line naming the culprit (exit code 2), never a traceback."""


class ConfigError(ValueError):
    """A setting that cannot work, in one line naming the setting and what to do."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, in one line naming the file and what to do."""
