"""The judge: feeds both twins the same weights and batches and says whether they agree.

The library's front door (docs/api.md): ``check_gradients``, ``compare_training``, ``train`` and
``check_optimizer`` (``compare.api``),
and the pytest helpers in ``compare.testing``.  They are imported on first use, so that ``import
compare`` (and the command line's start-up) pays for nothing it does not use.
"""

__all__ = ["check_gradients", "check_layers", "check_optimizer", "compare_training", "train"]


def __getattr__(name):
    if name in __all__:
        from compare import api

        return getattr(api, name)
    raise AttributeError(f"module 'compare' has no attribute {name!r}")
