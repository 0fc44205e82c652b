"""Batch normalization (``manual.layers.BatchNorm1d``, ``torch.nn.BatchNorm1d``): γ and β per feature,
running mean and variance for evaluation."""

from compare.architecture.registry import COUNT, RUNNING_MEAN, RUNNING_VAR, SCALE, SHIFT, LayerKind, features, register

BATCHNORM = register(
    LayerKind(
        "batchnorm",
        slot="norm",
        prefix="norm",
        params={"weight": (SCALE, features), "bias": (SHIFT, features)},
        buffers={
            "running_mean": (RUNNING_MEAN, features),
            "running_var": (RUNNING_VAR, features),
            "num_batches_tracked": (COUNT, lambda layer: ()),
        },
        cancels_bias=True,
        min_rows=2,
        proof_min_rows=3,
        conventions=(
            "batchnorm: eps 1e-5; running = 0.9·running + 0.1·batch (torch's momentum 0.1 = CS231n's momentum "
            "0.9, the weight on the old value); torch's running variance is unbiased (·N/(N−1)), CS231n's biased; "
            "evaluation normalises by the running statistics"
        ),
    )
)
