"""The model's flags (``--hidden``, ``--activation``, ``--norm``, ``--dropout``, ``--loss``,
``--output-activation``), the same for every command that builds a model; their choices come from the
registries (this package's kinds and the twins' tables)."""

from __future__ import annotations

from compare.architecture.registry import choices
from compare.flags import Flag

LOSS_HELP = (
    "cross-entropy (of logits), mse (mean squared error on one-hot targets, torch.nn.MSELoss) or "
    "quadratic (Nielsen's ½·Σ over the classes: C/2 × mse)"
)
DROPOUT_HELP = (
    "dropout after each hidden activation: P is the probability of DROPPING a unit (torch's meaning; "
    "CS231n's dropout_keep_ratio 0.8 is --dropout 0.2); default 0: no dropout"
)


def model_flags(defaults: bool) -> tuple[Flag, ...]:
    """With ``defaults``, each flag's default is the spec's (gradcheck); without, an unset flag is None
    (training: the checkpoint's on --resume, else the spec's) and the help says the default."""

    def shown(text: str, default) -> str:
        return text if defaults else f"{text} (default: {default})"

    def default(value):
        return value if defaults else None

    norms = ("none", *choices("norm"))
    return (
        Flag(
            "--hidden",
            "hidden",
            "text",
            shown("hidden layer sizes, comma-separated; 'none' for softmax regression", "128,64"),
            default("128,64"),
        ),
        Flag("--activation", "activation", "text", shown(", ".join(choices("activation")), "relu"), default("relu")),
        Flag(
            "--norm",
            "norm",
            "text",
            shown("normalization after each hidden affine layer: " + ", ".join(norms), "none"),
            default("none"),
            choices=norms,
        ),
        Flag("--dropout", "dropout", "probability", DROPOUT_HELP, default(0.0), metavar="P"),
        Flag("--loss", "loss", "text", shown(LOSS_HELP, "cross-entropy"), default("cross-entropy")),
        Flag(
            "--output-activation",
            "output_activation",
            "text",
            shown("after the last layer: none (logits), sigmoid or softmax", "none"),
            default("none"),
        ),
    )
