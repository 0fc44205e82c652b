"""Every picture the project makes, in one place: TensorBoard's images and ``simplenet plot`` both
call these.  Images are returned as uint8 arrays (H, W, 3); figures are drawn with matplotlib's
object API (``Figure`` + the Agg canvas: no pyplot state, no window, closed after use).

* ``weight_tiles``: each row of a first-layer weight matrix as a 28×28 tile, one symmetric colour
  scale for all tiles (0 is the same grey everywhere); ``TilesCanvas`` adds a title and a colour key
  (``layer1_canvas``; ``weight_diff_canvas``: |a − b| per tile, its key's right end the maximum);
* ``confusion`` / ``ConfusionCanvas``: the test set's confusion matrix with counts and class names;
* ``examples_image``: test images with a caption each (most confident mistakes, disagreements);
* ``overlay_figure``: the twins' curves, the divergence on a log axis, the final confusion matrices.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from compare import tags

GRID_PAD = 1


def _figure(width: float, height: float, dpi: int = 80):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def render(fig) -> np.ndarray:
    """A matplotlib figure as an (H, W, 3) uint8 image."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    fig.clear()
    return image


def tile_grid(rows: np.ndarray, shape: tuple[int, int] = (28, 28), columns: int | None = None) -> np.ndarray:
    """(units, H·W) → one 2-D grid of H×W tiles, separated by NaN (drawn as background)."""
    units = rows.shape[0]
    h, w = shape
    columns = columns or math.ceil(math.sqrt(units))
    lines = math.ceil(units / columns)
    grid = np.full((lines * (h + GRID_PAD) + GRID_PAD, columns * (w + GRID_PAD) + GRID_PAD), np.nan)
    for i, row in enumerate(np.asarray(rows, dtype=np.float64)):
        r, c = divmod(i, columns)
        top, left = GRID_PAD + r * (h + GRID_PAD), GRID_PAD + c * (w + GRID_PAD)
        grid[top : top + h, left : left + w] = row.reshape(h, w)
    return grid


def colorize(grid: np.ndarray, vmin: float, vmax: float, cmap: str, scale: int = 1) -> np.ndarray:
    """A 2-D array through a colour map's 256 entries (NaN → white), enlarged ``scale``× for the eye."""
    from matplotlib import colormaps

    lut = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    span = vmax - vmin if vmax > vmin else 1.0
    index = np.clip((np.nan_to_num(grid, nan=vmin) - vmin) * (255 / span) + 0.5, 0, 255).astype(np.uint8)
    image = lut[index]
    image[np.isnan(grid)] = 255
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def weight_limit(weight: np.ndarray) -> float:
    """The tiles' symmetric colour scale: ± the 99.5th percentile of |w| (the rare larger ones saturate)."""
    return float(np.percentile(np.abs(weight), 99.5)) or 1.0


def tile_image(values: np.ndarray, shape: tuple[int, int], top: float, cmap: str, symmetric: bool) -> np.ndarray:
    """One tile per row of ``values`` on one colour scale for all tiles: ±top, or 0 … top."""
    return colorize(tile_grid(values, shape), -top if symmetric else 0.0, top, cmap)


def weight_tiles(weight: np.ndarray, shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """What each unit of the first layer looks at: its weights as a tile, red > 0 > blue, one
    symmetric scale for all tiles (``weight_limit``) so that 0 is the same grey in every tile."""
    return tile_image(weight, shape, weight_limit(weight), "RdBu_r", True)


# the layer1 picture's margins in pixels: its title above the tiles, its colour key below them
TILES_TOP, TILES_LEFT, KEY_HEIGHT = 34, 10, 58


class TilesCanvas:
    """A picture of tiles (``tile_grid``: one per first-layer unit) with a title and a colour key.  The
    title and the key (colour bar, label) are drawn by matplotlib once per run; per epoch the tiles are
    coloured and copied in pixel for pixel at (``TILES_TOP``, ``TILES_LEFT``), and the key's end values
    are painted in the pixel font (``paint_number``).  ``symmetric``: the scale is ±top (0 in the
    middle), else 0 … top."""

    def __init__(self, title: str, units: int, shape: tuple[int, int], cmap: str, symmetric: bool, label: str):
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        self.shape, self.cmap, self.symmetric = shape, cmap, symmetric
        h, w = tile_grid(np.zeros((units, shape[0] * shape[1])), shape).shape
        self.width, self.height = max(w + 2 * TILES_LEFT, 340), h + TILES_TOP + KEY_HEIGHT
        fig = _figure(self.width / 80, self.height / 80)
        fig.text(0.5, 1 - 5 / self.height, title, ha="center", va="top", fontsize=8.5, wrap=True)
        left, span = 0.12, 0.76
        bar_bottom, bar_height = 34, 9  # px from the picture's bottom
        ax = fig.add_axes([left, bar_bottom / self.height, span, bar_height / self.height])
        lo = -1 if symmetric else 0
        bar = fig.colorbar(ScalarMappable(Normalize(lo, 1), cmap), cax=ax, orientation="horizontal")
        bar.set_ticks([lo, 0, 1] if symmetric else [0, 1], labels=["", "0", ""] if symmetric else ["0", ""])
        bar.ax.tick_params(labelsize=7.5, length=2, pad=1)
        bar.set_label(label, fontsize=7.5, labelpad=2)
        self.frame = render(fig)
        self.ends = (int(round(left * self.width)), int(round((left + span) * self.width)))
        self.label_y = self.height - bar_bottom + 8  # the tick labels' middle row

    def image(self, values: np.ndarray, top: float) -> np.ndarray:
        top = top if top > 0 else 1.0
        tiles = tile_image(values, self.shape, top, self.cmap, self.symmetric)
        image = self.frame.copy()
        image[TILES_TOP : TILES_TOP + tiles.shape[0], TILES_LEFT : TILES_LEFT + tiles.shape[1]] = tiles
        text = f"{top:.2g}"
        ink = (40, 40, 40)
        if self.symmetric:
            paint_number(image, "-" + text, self.ends[0], self.label_y, ink, scale=2)
            paint_number(image, "+" + text, self.ends[1], self.label_y, ink, scale=2)
        else:
            paint_number(image, text, self.ends[1], self.label_y, ink, scale=2)
        return image


def layer1_canvas(title: str, units: int, shape: tuple[int, int]) -> TilesCanvas:
    """What each first-layer unit looks at: its weights, red > 0 > blue on one symmetric scale
    (``weight_limit``); ``image(weight, weight_limit(weight))``."""
    return TilesCanvas(title, units, shape, "RdBu_r", True, "weight: blue < 0 < red (one scale for every tile)")


def weight_diff_canvas(labels: tuple[str, str], units: int, shape: tuple[int, int] = (28, 28)) -> TilesCanvas:
    """|a − b| of two first-layer weight matrices per tile, on one scale from 0 to its maximum, which
    the key's right end states; ``image(diff, diff.max())``."""
    return TilesCanvas(
        f"|{labels[0]} − {labels[1]}| of layer1's weights, per unit",
        units,
        shape,
        "magma",
        False,
        "|difference| (the right end is its maximum)",
    )


def confusion(true: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """counts[t, p]: test images of class t predicted as p."""
    return np.bincount(np.asarray(true) * classes + np.asarray(pred), minlength=classes * classes).reshape(
        classes, classes
    )


def draw_confusion(ax, counts: np.ndarray, names, title: str) -> None:
    k = len(names)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for t in range(k):
        for p in range(k):
            if counts[t, p]:
                ax.text(
                    p,
                    t,
                    str(counts[t, p]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if share[t, p] > 0.5 else "black",
                )
    ax.set_xticks(range(k), labels=names, rotation=60 if max(map(len, names)) > 2 else 0, fontsize=7)
    ax.set_yticks(range(k), labels=names, fontsize=7)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_title(title, fontsize=9)


# A 3×5 pixel font for the counts: per-epoch confusion images are painted with NumPy on a frame that
# matplotlib draws once (axes, class names, title), instead of laying out 100 text objects each epoch.
DIGITS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ".": ("0", "0", "0", "0", "1"),
    "-": ("000", "000", "111", "000", "000"),
    "+": ("000", "010", "111", "010", "000"),
    "e": ("000", "111", "111", "100", "111"),
}
GLYPHS = {d: np.array([[c == "1" for c in row] for row in rows]) for d, rows in DIGITS.items()}


@functools.lru_cache(maxsize=4096)
def glyph_mask(text: str, scale: int) -> np.ndarray:
    """``text`` in the pixel font, ``scale``× enlarged (a confusion matrix paints the same counts again)."""
    mask = np.concatenate([np.pad(GLYPHS[ch], ((0, 0), (0, 1))) for ch in text], axis=1)[:, :-1]
    return mask.repeat(scale, axis=0).repeat(scale, axis=1)


def paint_number(image: np.ndarray, text: str, cx: int, cy: int, color, scale: int = 2) -> None:
    """Draw ``text`` (digits) centred at (cx, cy) into ``image`` with the pixel font."""
    mask = glyph_mask(text, scale)
    h, w = mask.shape
    top, left = cy - h // 2, cx - w // 2
    region = image[top : top + h, left : left + w]
    region[mask[: region.shape[0], : region.shape[1]]] = color


_CONFUSION_FRAMES: dict[tuple, tuple] = {}  # class names → (frame without a title, axes box): twins share it


class ConfusionCanvas:
    """The confusion-matrix image of one run: frame (axes, ticks with class names, labels) drawn by
    matplotlib once per process for a set of classes and the title once per run, cells and counts
    painted per epoch in a few milliseconds."""

    def __init__(self, names, title: str):
        self.k = len(names)
        key = tuple(names)
        if key not in _CONFUSION_FRAMES:
            # cells wide enough for a 4-digit count in the pixel font at scale 2 (15 × 2 px + margin) for 10
            # classes: TensorBoard shows the image at about its card's width, so the digits stay ~8 px high
            side = max(4.6, 0.45 * self.k + 1.3)
            fig = _figure(side, side)
            ax = fig.add_axes([0.16, 0.14, 0.8, 0.78])
            ax.imshow(np.zeros((self.k, self.k)), cmap="Greys", vmin=0, vmax=1)
            ax.set_xticks(range(self.k), labels=names, rotation=60 if max(map(len, names)) > 2 else 0, fontsize=7)
            ax.set_yticks(range(self.k), labels=names, fontsize=7)
            ax.set_xlabel("predicted", fontsize=8)
            ax.set_ylabel("true", fontsize=8)
            fig.canvas.draw()
            box = ax.get_window_extent()
            height = fig.canvas.get_width_height()[1]
            geometry = (
                int(round(box.x0)),
                int(round(box.x1)),
                int(round(height - box.y1)),
                int(round(height - box.y0)),
            )
            _CONFUSION_FRAMES[key] = (render(fig), geometry)
        frame, (self.x0, self.x1, self.y0, self.y1) = _CONFUSION_FRAMES[key]
        # the title in the strip above the axes, centred on them, as ax.set_title places it
        width = frame.shape[1]
        strip = _figure(width / 80, self.y0 / 80)
        strip.text((self.x0 + self.x1) / 2 / width, 6 / self.y0, title, ha="center", va="bottom", fontsize=9)
        self.frame = frame.copy()
        self.frame[: self.y0] = render(strip)

    def image(self, counts: np.ndarray) -> np.ndarray:
        from matplotlib import colormaps

        image = self.frame.copy()
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        colors = (colormaps["Blues"](share)[..., :3] * 255).astype(np.uint8)
        xs = np.linspace(self.x0, self.x1, self.k + 1).round().astype(int)
        ys = np.linspace(self.y0, self.y1, self.k + 1).round().astype(int)
        cell = int(min(np.diff(xs).min(), np.diff(ys).min()))
        digits = len(str(int(counts.max()))) if counts.size else 1
        # one size for every count of the matrix: the largest scale at which the widest count fits its cell
        scale = max([s for s in (3, 2) if (4 * digits - 1) * s <= cell - 3 and 5 * s <= cell - 3] or [1])
        for t in range(self.k):
            for p in range(self.k):
                image[ys[t] : ys[t + 1], xs[p] : xs[p + 1]] = colors[t, p]
                if counts[t, p]:
                    paint_number(
                        image,
                        str(int(counts[t, p])),
                        (xs[p] + xs[p + 1]) // 2,
                        (ys[t] + ys[t + 1]) // 2,
                        (255, 255, 255) if share[t, p] > 0.5 else (0, 0, 0),
                        scale=scale,
                    )
        return image


def examples_image(images: np.ndarray, captions: list[str], title: str, columns: int = 3) -> np.ndarray:
    """Up to a few dozen 28×28 images, each with its caption, in a grid: one mosaic in one axes (a
    subplot per image costs seconds)."""
    count = len(images)
    columns = max(1, min(columns, count))
    lines = max(1, math.ceil(count / columns))
    h, w = (images.shape[1], images.shape[2]) if count else (28, 28)
    gap = 12  # room for the caption above each image
    mosaic = np.zeros((lines * (h + gap), columns * (w + 4)))
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        mosaic[r * (h + gap) + gap : (r + 1) * (h + gap), c * (w + 4) + 2 : c * (w + 4) + 2 + w] = image
    # three columns, 360 px: TensorBoard shows an image at its card's width (~350 px at 1600×1200), so
    # the grid is drawn at about that size and its captions stay ~9 px high, legible (seen in Chromium)
    width = 1.5 * columns
    height = width * mosaic.shape[0] / mosaic.shape[1] + 0.5  # the mosaic's own aspect, the title above it
    fig = _figure(width, height)
    ax = fig.add_axes([0, 0, 1, 1 - 0.5 / height])
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    for i, caption in enumerate(captions):
        r, c = divmod(i, columns)
        ax.text(c * (w + 4) + 2 + w / 2, r * (h + gap) + gap - 2, caption, ha="center", va="bottom", fontsize=8.5)
    if not count:
        ax.text(mosaic.shape[1] / 2, mosaic.shape[0] / 2, "none", ha="center", va="center")
    fig.suptitle(title, fontsize=8.5, wrap=True)
    return render(fig)


def run_colours(runs: list[str]) -> dict[str, str]:
    """The colours TensorBoard's Scalars tab gives a compare experiment: torch blue, the hand-written side
    orange (then the others), so a plot and the dashboard read the same way."""
    import itertools

    others = itertools.cycle(f"C{k}" for k in range(1, 10))  # a logdir of many experiments repeats colours
    return {run: "C0" if run == "torch" else next(others) for run in runs}


def log_axis(ax) -> None:
    """A log y-axis labelled 1e-03 …: plain text, not mathtext's 10⁻³, whose parser was a fifth of a
    report's drawing time."""
    from matplotlib.ticker import LogFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=True))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=True))


def overlay_figure(curves: dict, divergence: dict, matrices: dict, names, title: str):
    """The overlay ``simplenet plot`` writes: per twin (run) the train loss and test accuracy, the
    divergence on a log axis, the final confusion matrices.  ``curves[run][tag] = (steps, values)``."""
    panels = 2 + (1 if divergence else 0)
    fig = _figure(5.0 * panels, 4.2 + (4.2 if matrices else 0), dpi=100)
    rows = 2 if matrices else 1
    for i, (tag, label) in enumerate(
        ((tags.TRAIN_LOSS, "train loss (per step)"), (tags.TEST_ACCURACY, "test accuracy"))
    ):
        ax = fig.add_subplot(rows, panels, i + 1)
        colours = run_colours(list(curves))
        for run, series in curves.items():
            if tag in series:
                steps, values = np.asarray(series[tag][0]), np.asarray(series[tag][1])
                color = colours[run]
                if len(steps) > 200:  # per-step losses: faint, with their 100-step moving mean
                    ax.plot(steps, values, color=color, linewidth=0.5, alpha=0.25)
                    mean = np.convolve(values, np.ones(100) / 100, mode="valid")
                    ax.plot(steps[99:], mean, color=color, linewidth=1.2, label=f"{run} (100-step mean)")
                else:
                    ax.plot(steps, values, color=color, label=run, linewidth=1, marker="o", markersize=3, alpha=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
        if tag == tags.TRAIN_LOSS:
            log_axis(ax)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if divergence:
        ax = fig.add_subplot(rows, panels, 3)
        for tag, (steps, values) in divergence.items():
            positive = np.asarray(values) > 0
            ax.plot(np.asarray(steps)[positive], np.asarray(values)[positive], label=tag.split("/", 1)[-1], linewidth=1)
        log_axis(ax)
        ax.set_title("divergence of the twins (log)", fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for i, (run, counts) in enumerate(matrices.items()):
        ax = fig.add_subplot(rows, panels, panels + i + 1)
        draw_confusion(ax, counts, names, f"{run}: final confusion matrix")
    fig.suptitle(title, fontsize=11)
    # fixed margins, not tight_layout: it measures every tick label of every axis (over a second of a
    # report's time); these fit the labels drawn here (checked in the saved PNG)
    top = 1 - 0.8 / fig.get_figheight()
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.6 / fig.get_figheight(), top=top, wspace=0.25, hspace=0.32)
    return fig


def save_png(fig, path) -> None:
    fig.savefig(path, format="png")
    fig.clear()
