"""What the runner logs as pictures at epoch ends (the images themselves: ``compare.figures``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from compare import figures, tags
from compare.architecture import KINDS, affine_name, affine_weight
from compare.datasets import DATASETS

EXAMPLES = 18  # images in a grid of mistakes or disagreements


def warm_up() -> None:
    """Import what the pictures draw with (run in a thread while the first epoch trains)."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    from matplotlib import colormaps  # noqa: F401


def tile_shape(in_features: int) -> tuple[int, int] | None:
    side = math.isqrt(in_features)
    return (side, side) if side * side == in_features else None


def twin_pictures(log, twin, cfg, step: int, last: bool) -> None:
    """One twin's epoch-end pictures: layer1's weights, the confusion matrix (+ per-class accuracy
    scalars and the counts as text), and at the last epoch its most confident mistakes."""
    names = DATASETS[cfg.dataset].classes
    true, pred = twin.test_labels(), twin.test_pred
    counts = figures.confusion(true, pred, len(names))
    per_class = counts.diagonal() / np.maximum(counts.sum(axis=1), 1)
    log.scalars({f"{tags.PER_CLASS_ACCURACY}/{name}": float(a) for name, a in zip(names, per_class)}, step)
    canvas = getattr(twin, "confusion_canvas", None)
    if canvas is None:
        canvas = twin.confusion_canvas = figures.ConfusionCanvas(
            names, f"{twin.label}: confusion on the {DATASETS[cfg.dataset].title} test set"
        )
    log.image(tags.CONFUSION, canvas.image(counts), step)
    log.text(tags.CONFUSION_COUNTS, counts.tolist(), step)
    shape = tile_shape(cfg.spec.in_features)
    if shape is not None:
        weight = twin.params()[affine_weight(1)]
        tiles = getattr(twin, "layer1_canvas", None)
        if tiles is None:
            title = f"{twin.label}: what each of layer1's {len(weight)} units looks at (its weights)"
            tiles = twin.layer1_canvas = figures.layer1_canvas(title, len(weight), shape)
        log.image(tags.LAYER1_WEIGHTS, tiles.image(weight, figures.weight_limit(weight)), step)
    if last:
        embedding(log.run_dir, twin, cfg)
        wrong = np.flatnonzero(pred != true)
        worst = wrong[np.argsort(-twin.test_confidence[wrong], kind="stable")][:EXAMPLES]
        images = np.asarray(twin.images["test"])[worst]
        captions = [f"{names[true[i]]} → {names[pred[i]]} ({twin.test_confidence[i]:.2f})" for i in worst]
        log.image(
            tags.MISTAKES,
            figures.examples_image(
                images,
                captions,
                f"{twin.label}: the test images it gets most confidently wrong (true → predicted, probability)",
            ),
            step,
        )


def divergence_pictures(log, twins, cfg, step: int, last: bool) -> None:
    """In compare: how many test predictions differ, where layer1's weights have moved apart, and at
    the end the images the twins disagree on."""
    names = DATASETS[cfg.dataset].classes
    a, b = twins
    differ = np.flatnonzero(a.test_pred != b.test_pred)
    log.scalars({tags.TEST_PREDICTIONS_DIFFER: float(differ.size)}, step)
    shape = tile_shape(cfg.spec.in_features)
    if shape is not None:
        diff = np.abs(a.params()[affine_weight(1)].astype(np.float64) - b.params()[affine_weight(1)])
        canvas = getattr(a, "diff_canvas", None)
        if canvas is None:
            canvas = a.diff_canvas = figures.weight_diff_canvas((a.label, b.label), len(diff), shape)
        log.image(tags.LAYER1_WEIGHTS_DIFF, canvas.image(diff, float(diff.max())), step)
    if last:
        shown = differ[:EXAMPLES]
        true = a.test_labels()
        images = np.asarray(a.images["test"])[shown]
        captions = [
            f"{names[true[i]]}: {a.label} {names[a.test_pred[i]]}, {b.label} {names[b.test_pred[i]]}" for i in shown
        ]
        log.image(
            tags.DISAGREEMENTS,
            figures.examples_image(
                images,
                captions,
                f"the {differ.size} test images the twins classify differently"
                + (f" (first {len(shown)})" if differ.size > len(shown) else ""),
            ),
            step,
        )


EMBEDDED = 2000  # test images in the Projector


def hidden_activations(spec, state: dict, x: np.ndarray) -> np.ndarray:
    """The output of the last hidden block (its activation, in evaluation mode: running statistics, no dropout)
    at a twin's parameters and running statistics in torch's layout: our hand-written twin's own modules in
    their own order, the same for every implementation."""
    from compare.twins import build_manual

    net = build_manual(spec, state, "float64").eval()
    last = f"{KINDS[spec.activation].prefix}{len(spec.hidden)}"
    h = np.asarray(x, dtype=np.float64)
    for name, module in net.sequence:
        h = module(h)
        if name == last:
            return h
    raise ValueError(f"the model has no {last}")


_SPRITES: dict[str, Path] = {}  # digest of the images → a sprite this process wrote of them


def write_sprite(images: np.ndarray, path: Path) -> None:
    """The Projector's sprite: the images in a square grid, dark digits on white.  Both twins of a
    compare show the same test images, so the second run's sprite is a hard link to the first's
    (a copy where links are not possible): encoded once."""
    import hashlib
    import os
    import shutil

    from PIL import Image

    digest = hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest() + str(images.shape)
    done = _SPRITES.get(digest)
    if done is not None and done.exists() and done != path:
        if path.exists() and os.path.samefile(done, path):  # linked already (a resumed run writes it again)
            return
        path.unlink(missing_ok=True)
        try:
            os.link(done, path)
        except OSError:
            shutil.copyfile(done, path)
        return
    side = math.ceil(math.sqrt(len(images)))
    h, w = images.shape[1:]
    sprite = np.full((side * h, side * w), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, side)
        sprite[r * h : (r + 1) * h, c * w : (c + 1) * w] = 255 - image  # dark digits on white
    Image.fromarray(sprite).save(path)
    _SPRITES[digest] = path


def embedding(run_dir, twin, cfg, count: int = EMBEDDED) -> None:
    """TensorBoard's Projector: the last hidden layer's activations of ``count`` test images (the first
    ones), with the digits as sprites and the labels as metadata - what the network learned, as points
    a learner can rotate.  Written beside the event files: projector_config.pbtxt and embedding/."""
    layers = len(cfg.spec.hidden)
    images = np.asarray(twin.images["test"])[:count]
    if not layers or tile_shape(cfg.spec.in_features) is None:
        return
    x = (images.reshape(len(images), -1) / 255.0 - DATASETS[cfg.dataset].mean) / DATASETS[cfg.dataset].std
    points = hidden_activations(cfg.spec, twin.params(), x)
    labels = twin.test_labels()[: len(images)]
    names = DATASETS[cfg.dataset].classes
    folder = Path(run_dir) / "embedding"
    folder.mkdir(parents=True, exist_ok=True)
    np.savetxt(folder / "tensors.tsv", points, fmt="%.5g", delimiter="\t")
    (folder / "metadata.tsv").write_text("".join(f"{names[int(k)]}\n" for k in labels))
    h, w = images.shape[1:]
    write_sprite(images, folder / "sprite.png")
    (Path(run_dir) / "projector_config.pbtxt").write_text(
        "embeddings {\n"
        f'  tensor_name: "{twin.label}: {affine_name(layers)} activations of {len(images)} test images"\n'
        '  tensor_path: "embedding/tensors.tsv"\n'
        '  metadata_path: "embedding/metadata.tsv"\n'
        f'  sprite {{\n    image_path: "embedding/sprite.png"\n    single_image_dim: {w}\n'
        f"    single_image_dim: {h}\n  }}\n}}\n"
    )
