"""Every TensorBoard tag the runs write, in one place.

TensorBoard's Time Series tab groups cards by the tag's first part, sorts the groups by name and opens
the first two: ``curves`` (both twins' loss and accuracy, the same tags in every twin's run so they
overlay) and ``divergence`` (the twins' difference, compare only).  Everything a learner reads second
sorts after them: ``histograms``, ``per_class``, ``per_layer`` (gradient norms, update ratios, dead
ReLU units), ``pictures``, ``schedule``.

Per-epoch curves hold each epoch's figure across the steps of that epoch (``HELD_POINTS`` points),
so TensorBoard's default smoothing (an exponential moving average) ends each epoch at its true value
instead of dragging a 3-point series toward its start.
"""

from __future__ import annotations

# The Text tab sorts its groups by the tag's first part, character by character (capitals before lower case)
# and opens the first two: the verdict, then the guide to the charts; the raw config and environment follow,
# closed (seen so in headless Chromium).
TEXT_VERDICT = "Verdict"
TEXT_HOW_TO_READ = "What the charts show"  # after "Verdict": capitals sort first, V before W
TEXT_CONFIG = "config"
TEXT_ENVIRONMENT = "environment"

TRAIN_LOSS = "curves/loss"  # per step: the batch loss
TEST_ACCURACY = "curves/test_accuracy"  # per epoch, held over the epoch
TEST_LOSS = "curves/test_loss"
TRAIN_ACCURACY = "curves/train_accuracy"
TRAIN_EPOCH_LOSS = "curves/train_loss_epoch"
EPOCH_CURVES = {
    "test_accuracy": TEST_ACCURACY,
    "test_loss": TEST_LOSS,
    "train_accuracy": TRAIN_ACCURACY,
    "train_loss": TRAIN_EPOCH_LOSS,
}
LR = "schedule/lr"

ABS_LOSS_DIFF = "divergence/abs_loss_diff"
LOG10_ABS_LOSS_DIFF = "divergence/log10_abs_loss_diff"
ABS_TEST_ACCURACY_DIFF = "divergence/abs_test_accuracy_diff"
ABS_TEST_LOSS_DIFF = "divergence/abs_test_loss_diff"
PARAM_MAX_ABS_DIFF = "divergence/param_max_abs_diff"
TEST_PREDICTIONS_DIFFER = "divergence/test_predictions_differ"

GRAD_NORM_STEP = "per_layer/grad_norm_per_step"  # /<parameter>, at every read-back
PER_LAYER = "per_layer"  # /grad_norm/layerK, /update_ratio/layerK, /dead_relu/actK at epoch ends
PER_CLASS_ACCURACY = "per_class/test_accuracy"  # /<class name>
HISTOGRAMS = "histograms"  # /weights/<parameter>, /grads/<parameter>

CONFUSION = "pictures/confusion"
CONFUSION_COUNTS = "pictures/confusion_counts"  # the counts as JSON text, for simplenet plot
LAYER1_WEIGHTS = "pictures/layer1_weights"
MISTAKES = "pictures/mistakes_most_confident"
LAYER1_WEIGHTS_DIFF = "pictures/layer1_weights_twins_abs_diff"
DISAGREEMENTS = "pictures/twins_disagreements"

HELD_POINTS = 24

# Custom Scalars matches a chart's tag regexes against every run under --logdir, never against run
# names: a chart made for one experiment would draw every experiment's runs.  So each experiment also
# logs what its dashboard draws under tags of its own, ``scoped/<experiment>/<tag>`` (a group that
# sorts last in Time Series), and its charts match only those.
SCOPED = "scoped"
DASHBOARD_TAGS = (TRAIN_LOSS, TEST_ACCURACY, LOG10_ABS_LOSS_DIFF, TEST_PREDICTIONS_DIFFER)
DASHBOARD_PREFIXES = (f"{PER_LAYER}/grad_norm/", f"{PER_LAYER}/update_ratio/", f"{PER_LAYER}/dead_relu/")


def scoped(experiment: str, tag: str) -> str:
    """The experiment's own copy of a tag its Custom Scalars dashboard draws."""
    return f"{SCOPED}/{experiment}/{tag}"


def on_dashboard(tag: str) -> bool:
    return tag in DASHBOARD_TAGS or tag.startswith(DASHBOARD_PREFIXES)


def held_steps(first: int, last: int, points: int = HELD_POINTS) -> list[int]:
    """Up to ``points`` distinct steps spread over first..last (inclusive), the last one included."""
    span = last - first + 1
    if span <= points:
        return list(range(first, last + 1))
    return sorted({first + round((j + 1) * span / points) - 1 for j in range(points)})
