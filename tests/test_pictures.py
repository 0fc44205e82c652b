"""Pictures: what layer1 looks at, confusion matrices, mistakes, the twins' dashboard, and `plot`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from compare import figures
from compare.cli import main
from helpers import free_port


def events(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def image_shape(acc, tag):
    img = acc.Images(tag)[-1]
    return img.height, img.width, len(acc.Images(tag))


def tiles_size(units, side=28, scale=1):
    cols = math.ceil(math.sqrt(units))
    lines = math.ceil(units / cols)
    return (lines * (side + 1) + 1) * scale, (cols * (side + 1) + 1) * scale


def run(command, data, tmp_path, *extra, name="x"):
    argv = [
        command,
        "--data-dir",
        str(data),
        "--logdir",
        str(tmp_path / "runs"),
        "--experiment",
        name,
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--quiet",
        *map(str, extra),
    ]
    if command == "train":
        argv[1:1] = ["--impl", "manual"]
    assert main(argv) == 0
    return tmp_path / "runs" / name


@pytest.mark.parametrize("hidden,units", [("128,64", 128), ("50", 50), ("none", 10)])
def test_each_twin_logs_its_pictures(tiny_mnist, tmp_path, hidden, units):
    exp = run("train", tiny_mnist, tmp_path, "--hidden", hidden)
    acc = events(exp / "manual")
    h, w, n = image_shape(acc, "pictures/layer1_weights")
    th, tw = tiles_size(units)  # one grid per epoch, sized to the layer, with its title and colour key
    assert (h, w) == (th + figures.TILES_TOP + figures.KEY_HEIGHT, max(tw + 2 * figures.TILES_LEFT, 340)) and n == 2
    h, w, n = image_shape(acc, "pictures/confusion")
    assert n == 2 and h > 300 and w > 300
    assert image_shape(acc, "pictures/mistakes_most_confident")[2] == 1  # at the last epoch only
    tags = set(acc.Tags()["scalars"])
    assert {f"per_class/test_accuracy/{c}" for c in "0123456789"} <= tags
    # the per-class accuracies and the counts agree with the overall test accuracy
    counts = np.array(
        json.loads(
            acc.Tensors("pictures/confusion_counts/text_summary")[-1]
            .tensor_proto.string_val[0]
            .decode()
            .split("```json\n")[1]
            .split("\n```")[0]
        )
    )
    total = acc.Scalars("curves/test_accuracy")[-1].value
    assert counts.sum() == 40 and counts.trace() / 40 == pytest.approx(total)
    per_class = [acc.Scalars(f"per_class/test_accuracy/{c}")[-1].value for c in "0123456789"]
    np.testing.assert_allclose(per_class, counts.diagonal() / counts.sum(axis=1), rtol=1e-6)


def test_compare_logs_the_divergence_pictures_and_a_dashboard(tiny_mnist, tmp_path):
    exp = run("compare", tiny_mnist, tmp_path)
    div = events(exp / "divergence")
    assert image_shape(div, "pictures/layer1_weights_twins_abs_diff")[2] == 2
    assert image_shape(div, "pictures/twins_disagreements")[2] == 1
    assert len(div.Scalars("divergence/test_predictions_differ")) == 2
    for twin in ("manual", "torch"):
        assert {"pictures/layer1_weights", "pictures/confusion", "pictures/mistakes_most_confident"} <= set(
            events(exp / twin).Tags()["images"]
        )


def custom_scalars(run_dir):
    """The Custom Scalars layouts a run directory holds, as TensorBoard's plugin reads them."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.custom_scalar import layout_pb2

    layouts = []
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for v in event.summary.value:
                if v.tag == "custom_scalars__config__":
                    layouts.append(layout_pb2.Layout.FromString(v.tensor.string_val[0]))
    return layouts


def test_with_three_experiments_in_one_logdir_no_chart_draws_a_run_it_does_not_name(tiny_mnist, tmp_path):
    """TensorBoard merges every run's Custom Scalars layout and draws, in each chart, every run that has
    a tag its regexes match (``regex.match``, as custom_scalars_plugin does).  Each chart must draw
    only runs its title names, and draw them (issue 21)."""
    import re

    exps = [run("compare", tiny_mnist, tmp_path, name=n) for n in ("a", "b")]
    exps.append(run("train", tiny_mnist, tmp_path, name="c"))
    logdir = exps[0].parent
    runs = {d.relative_to(logdir).as_posix(): events(d) for d in logdir.glob("*/*") if any(d.glob("events.*"))}
    assert sorted(runs) == sorted(
        ["a/manual", "a/torch", "a/divergence", "b/manual", "b/torch", "b/divergence", "c/manual"]
    )
    tags_of = {name: acc.Tags()["scalars"] for name, acc in runs.items()}
    charts = [
        (cat.title, chart)
        for d in logdir.glob("*/*")
        for layout in custom_scalars(d)
        for cat in layout.category
        for chart in cat.chart
    ]
    assert len({title for title, _ in charts}) == 2 * 3  # two categories per experiment
    assert len(charts) == 7 + 7 + 5
    for category, chart in charts:
        drawn = {name for name, tags in tags_of.items() for r in chart.multiline.tag for t in tags if re.match(r, t)}
        assert drawn, chart.title  # nothing empty either
        experiment = chart.title.split(":")[0]
        assert category.split(" ", 1)[1].startswith(f"{experiment}: ")
        for name in drawn:
            assert name.startswith(f"{experiment}/") and f"{name}" in chart.title, (chart.title, name)
    # the twins' chart of a compare draws both twins, from the same values as curves/loss
    loss = [chart for _, chart in charts if chart.title.startswith("a: train loss")][0]
    for twin in ("manual", "torch"):
        scoped = [t for t in tags_of[f"a/{twin}"] if re.match(loss.multiline.tag[0], t)]
        assert [e.value for e in runs[f"a/{twin}"].Scalars(scoped[0])] == [
            e.value for e in runs[f"a/{twin}"].Scalars("curves/loss")
        ]


def test_divergence_count_counts_disagreements(tiny_mnist, tmp_path):
    """The count is the number of differing predictions: planted disagreements show up exactly."""
    from compare import pictures

    class Log:
        def __init__(self):
            self.values, self.images = {}, {}

        def scalars(self, values, step):
            self.values.update(values)

        def image(self, tag, image, step):
            self.images[tag] = image

    class Twin:
        def __init__(self, label, pred):
            self.label, self.test_pred = label, pred
            self.images = {"test": np.zeros((40, 28, 28), np.uint8)}

        def params(self):
            return {"layer1.weight": np.ones((4, 784))}

        def test_labels(self):
            return np.zeros(40, np.int64)

    from compare.config import TrainConfig

    pred = np.zeros(40, np.int64)
    other = pred.copy()
    other[[3, 7, 11]] = 5
    log = Log()
    pictures.divergence_pictures(log, [Twin("manual", pred), Twin("torch", other)], TrainConfig(), 1, last=True)
    assert log.values["divergence/test_predictions_differ"] == 3
    assert set(log.images) == {"pictures/layer1_weights_twins_abs_diff", "pictures/twins_disagreements"}


def test_no_images(tiny_mnist, tmp_path):
    exp = run("train", tiny_mnist, tmp_path, "--no-images")
    assert not events(exp / "manual").Tags()["images"]


def test_weight_tiles_share_one_symmetric_scale():
    w = np.zeros((4, 784))
    w[0, :] = 1.0
    w[1, :] = -1.0
    img = figures.weight_tiles(w)
    grey = img[1 + 29 + 10, 30 + 10]  # tile 3 (all zeros): the colour map's middle
    assert abs(int(grey[0]) - int(grey[2])) < 10  # neither red nor blue
    red, blue = img[10, 10], img[10, 30 + 10]
    assert red[0] > red[2] and blue[2] > blue[0]


def test_the_layer1_picture_has_its_tiles_a_title_and_a_colour_key():
    """The tiles pixel for pixel (no resampling), a title drawn above them, a key with both ends of
    the colour map below them (issue 21)."""
    w = np.random.default_rng(0).standard_normal((50, 784)) * 0.05
    img = figures.layer1_canvas("x: what each of layer1's 50 units looks at", 50, (28, 28)).image(
        w, figures.weight_limit(w)
    )
    tiles = figures.weight_tiles(w)
    top, left = figures.TILES_TOP, figures.TILES_LEFT
    np.testing.assert_array_equal(img[top : top + tiles.shape[0], left : left + tiles.shape[1]], tiles)
    title, key = img[:top], img[top + tiles.shape[0] :].astype(int)
    assert (title.min(axis=2) < 128).sum() > 200  # dark text
    red = (key[..., 0] - key[..., 2] > 100).sum()
    blue = (key[..., 2] - key[..., 0] > 100).sum()
    assert red > 100 and blue > 100
    # the twins' |difference|: 0 … its maximum, the same tiles pixel for pixel
    a, b = w, w + np.random.default_rng(1).standard_normal(w.shape) * 1e-5
    diff = np.abs(a - b)
    img = figures.weight_diff_canvas(("manual", "torch"), 50).image(diff, float(diff.max()))
    tiles = figures.colorize(figures.tile_grid(diff), 0.0, float(diff.max()), "magma")
    np.testing.assert_array_equal(img[top : top + tiles.shape[0], left : left + tiles.shape[1]], tiles)


def test_confusion_counts():
    true = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    expected = np.zeros((3, 3), int)
    for t, p in zip(true, pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(figures.confusion(true, pred, 3), expected)


def test_plot_a_compare_and_a_train_run(tiny_mnist, tmp_path, capsys):
    from matplotlib.image import imread

    for command in ("compare", "train"):
        exp = run(command, tiny_mnist, tmp_path, name=command)
        out = tmp_path / f"{command}.png"
        assert main(["plot", str(exp), "-o", str(out)]) == 0
        assert f"wrote {out}" in capsys.readouterr().out
        img = imread(out)
        assert img.shape[0] >= 700 and img.shape[1] >= (1400 if command == "compare" else 900)
        assert img[..., :3].std() > 0.05  # not blank


def test_plot_a_directory_without_events(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["plot", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "holds no TensorBoard event files" in err


def test_a_real_tensorboard_lists_both_twins_images(tiny_mnist, tmp_path):
    exp = run("compare", tiny_mnist, tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(exp),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--load_fast",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, tags = time.time() + 90, None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/images/tags", timeout=5) as r:
                    tags = json.loads(r.read())
                if {"manual", "torch"} <= set(tags):
                    break
            except OSError:
                pass
            time.sleep(1)
        assert tags is not None, "TensorBoard did not answer"
        for twin in ("manual", "torch"):
            assert {"pictures/layer1_weights", "pictures/confusion"} <= set(tags[twin])
        assert "pictures/layer1_weights_twins_abs_diff" in tags["divergence"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_plot_colours_the_twins_as_tensorboard_does():
    """torch blue, the hand-written side orange - as TensorBoard's Scalars tab and the README's caption."""
    from compare.figures import run_colours

    assert run_colours(["manual", "torch"]) == {"manual": "C1", "torch": "C0"}
    assert run_colours(["sklearn", "torch"]) == {"sklearn": "C1", "torch": "C0"}
    assert len(set(run_colours(["lr=0.1/manual", "lr=0.1/torch", "lr=1/manual"]).values())) == 3


def tensorboard_smoothed(values, weight=0.6):
    """TensorBoard's scalar smoothing (its default weight 0.6): a debiased exponential moving average."""
    last, out = 0.0, []
    for n, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**n))
    return out


def test_per_epoch_curves_read_right_at_default_smoothing(tiny_mnist, tmp_path, capsys):
    """The value a learner reads at an epoch's end on a smoothed curve is the printed figure (to 4
    decimals): each epoch's figure is held over its steps; the same 3 points alone would read wrong."""
    out = tmp_path / "c.json"
    flags = ["--data-dir", str(tiny_mnist), "--logdir", str(tmp_path), "--experiment", "x", "--quiet"]
    assert main(["compare", "--epochs", "3", "--batch-size", "4", "--json", str(out), *flags]) == 0
    payload = json.loads(out.read_text())
    for twin in ("manual", "torch"):
        points = events(tmp_path / "x" / twin).Scalars("curves/test_accuracy")
        smoothed = dict(zip([p.step for p in points], tensorboard_smoothed([p.value for p in points])))
        printed = [e[twin]["test_accuracy"] for e in payload["epochs"]]
        ends = [24 * (k + 1) for k in range(3)]  # 96 images, batch 4: 24 steps per epoch
        assert all(abs(smoothed[s] - v) < 5e-5 for s, v in zip(ends, printed)), (smoothed, printed)
        if len(set(printed)) > 1:  # the check can fail: one point per epoch, smoothed, reads wrong
            assert abs(tensorboard_smoothed(printed)[-1] - printed[-1]) > 5e-5
    verdict = events(tmp_path / "x" / "divergence").Tensors("Verdict/text_summary")[-1]
    text = verdict.tensor_proto.string_val[0].decode()
    assert text.startswith("## verdict: AGREE") and "max per-step |Δloss|" in text and "tolerance" in text
    guide = (
        events(tmp_path / "x" / "manual").Tensors("What the charts show/text_summary")[-1].tensor_proto.string_val[0]
    )
    assert b"curves/" in guide and b"divergence/log10_abs_loss_diff" in guide
    log10 = events(tmp_path / "x" / "divergence").Scalars("divergence/log10_abs_loss_diff")
    assert len(log10) == 72 and all(-20 <= p.value < -3 for p in log10)


def test_report_is_one_self_contained_html_file(tiny_mnist, tmp_path):
    """simplenet report: the verdict table, the curves figure and the pictures inline; no reference
    that needs a network; written without importing torch."""
    import html.parser

    flags = ["--data-dir", str(tiny_mnist), "--logdir", str(tmp_path), "--experiment", "x", "--quiet"]
    assert main(["compare", "--epochs", "2", *flags]) == 0
    code = "import sys; sys.modules['torch'] = None\nfrom compare.cli import main\nsys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "report", str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"wrote {tmp_path / 'x' / 'report.html'}", r.stderr

    class Refs(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.refs, self.tables, self.images = [], 0, 0

        def handle_starttag(self, tag, attrs):
            self.refs += [v for k, v in attrs if k in ("src", "href")]
            self.tables += tag == "table"
            self.images += tag == "img"

    page = (tmp_path / "x" / "report.html").read_text()
    refs = Refs()
    refs.feed(page)
    assert refs.refs and all(v.startswith("data:image/png;base64,") for v in refs.refs)  # nothing fetched
    assert not any("http" in v for v in refs.refs)
    assert refs.tables >= 2 and refs.images >= 4  # verdict + epochs; curves figure + pictures
    assert "max per-step |Δloss|" in page and "verdict: AGREE" in page and "Environment" in page
    # the hand-written side's gradient proof at the run's initial weights, as gradcheck's table (gradcheck.json)
    assert (
        "<h2>Gradient check</h2>" in page
        and "layer3.bias" in page
        and "first 64 training images, at its initial weights" in page
    )
    assert "<div class='pictures'>" in page  # side by side, not one narrow column
    bad = subprocess.run(
        [sys.executable, "-m", "compare.cli", "report", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_projector_and_graph(tiny_mnist, tmp_path):
    """The Projector lists each twin's embedding (its config, tensor and labels read back: the judge's
    layer-2 activations of the twin's own parameters), and the Graphs tab has the torch twin's graph."""
    import numpy as np

    from compare.pictures import hidden_activations

    flags = ["--data-dir", str(tiny_mnist), "--logdir", str(tmp_path), "--experiment", "x", "--quiet"]
    assert main(["compare", "--epochs", "1", "--dtype", "float64", *flags]) == 0
    for twin in ("manual", "torch"):
        config = (tmp_path / "x" / twin / "projector_config.pbtxt").read_text()
        assert 'tensor_path: "embedding/tensors.tsv"' in config and "single_image_dim: 28" in config
        points = np.loadtxt(tmp_path / "x" / twin / "embedding" / "tensors.tsv", delimiter="\t")
        labels = (tmp_path / "x" / twin / "embedding" / "metadata.tsv").read_text().split()
        assert points.shape == (40, 64) and len(labels) == 40 and set(labels) <= set("0123456789")
        assert (tmp_path / "x" / twin / "embedding" / "sprite.png").exists()
    from PIL import Image

    sprites = [tmp_path / "x" / twin / "embedding" / "sprite.png" for twin in ("manual", "torch")]
    assert sprites[0].read_bytes() == sprites[1].read_bytes()  # the same test images, encoded once
    sprite = np.asarray(Image.open(sprites[0]))
    assert sprite.shape == (7 * 28, 7 * 28) and sprite.min() < 128  # 40 digits in a 7×7 grid, dark on white
    ours = np.loadtxt(tmp_path / "x" / "manual" / "embedding" / "tensors.tsv", delimiter="\t")
    theirs = np.loadtxt(tmp_path / "x" / "torch" / "embedding" / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)  # float64 twins: the same network
    from compare.config import ModelSpec

    spec = ModelSpec(in_features=2, hidden=(2,), out_features=3)
    state = {"layer1.weight": np.eye(2), "layer1.bias": -np.ones(2), "layer2.weight": np.ones((3, 2))}
    state["layer2.bias"] = np.zeros(3)
    assert hidden_activations(spec, state, np.array([[3.0, 0.5]])).tolist() == [[2.0, 0.0]]
    # with batchnorm, in evaluation mode: (x − running mean)/√(running var + ε)·γ + β, then the ReLU
    spec = ModelSpec(in_features=2, hidden=(2,), out_features=3, norm="batchnorm")
    state.update({"norm1.weight": np.ones(2), "norm1.bias": np.zeros(2), "norm1.num_batches_tracked": np.array(3)})
    state.update({"norm1.running_mean": np.array([1.0, 0.0]), "norm1.running_var": np.array([4.0, 1.0]) - 1e-5})
    np.testing.assert_allclose(hidden_activations(spec, state, np.array([[3.0, 0.5]])), [[0.5, 0.0]], atol=1e-12)
    np.testing.assert_allclose(hidden_activations(spec, state, np.array([[7.0, 0.5]])), [[2.5, 0.0]], atol=1e-12)
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    graphs = [
        e
        for f in (tmp_path / "x" / "torch").glob("events.out.tfevents.*")
        for e in EventFileLoader(str(f)).Load()
        if e.graph_def
    ]
    assert len(graphs) == 1


def hparams_tab(logdir):
    """What TensorBoard's HParams tab is given for a logdir (its own backend: the experiment it works out
    from the runs), and which columns it ticks at first: its query pane sorts the hparams with the
    differing ones first (a stable sort of the backend's order) and ticks the first five, and ticks the
    first five metrics (tf_hparams_query_pane._computeHParams / _computeMetrics, TensorBoard 2.x)."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context

    mux = pem.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    bc = backend_context.Context(base_plugin.TBContext(logdir=str(logdir), multiplexer=mux, data_provider=provider))
    rc = context.RequestContext()
    exp = bc.experiment_from_metadata(
        rc, "", True, bc.hparams_metadata(rc, ""), bc.hparams_from_data_provider(rc, "", 0)
    )
    hparams = sorted(exp.hparam_infos, key=lambda h: not h.differs)
    return {h.name: h for h in hparams}, [h.name for h in hparams[:5]], [m.name.tag for m in exp.metric_infos[:5]], mux


def test_hparams_ticks_what_distinguishes_the_runs_with_their_types(tiny_mnist, tmp_path):
    """Two experiments in one logdir: the columns ticked at first are those that differ, numbers are
    numbers, integers read as integers, an Adam run has no momentum, and the metrics ticked are the
    final figures, equal to the printed ones (issue 21)."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    run("compare", tiny_mnist, tmp_path, name="a")
    run("train", tiny_mnist, tmp_path, "--optimizer", "adam", "--lr", "0.01", "--seed", "3", name="b")
    logdir = tmp_path / "runs"
    infos, ticked, metrics, mux = hparams_tab(logdir)
    assert set(ticked) == {"command", "impl", "lr", "optimizer", "seed"}
    assert infos["lr"].type == api_pb2.DATA_TYPE_FLOAT64 and infos["lr"].domain_interval.max_value == 0.05
    assert infos["batch_size"].type == api_pb2.DATA_TYPE_STRING and list(infos["batch_size"].domain_discrete) == ["16"]
    assert sorted(infos["seed"].domain_discrete) == ["0", "3"] and infos["nesterov"].type == api_pb2.DATA_TYPE_BOOL
    assert sorted(infos["impl"].domain_discrete) == ["manual", "torch"] and not infos["dtype"].differs
    assert metrics == [
        "curves/loss",
        "curves/test_accuracy",
        "curves/test_loss",
        "curves/train_accuracy",
        "curves/train_loss_epoch",
    ]
    sessions = {run for run in mux.Runs() if "_hparams_/session_start_info" in mux.Runs()[run].get("tensors", [])}
    assert sessions == {"a/manual", "a/torch", "b/manual"}

    for session in sessions:
        start = mux.SummaryMetadata(session, "_hparams_/session_start_info").plugin_data.content
        hp = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
        assert ("momentum" in hp) == session.startswith("a/")  # sgd's, not adam's
        results = json.loads((logdir / session.split("/")[0] / "results.json").read_text())
        final = results["epochs"][-1]
        twin = session.split("/")[1]
        printed = final[twin]["test_accuracy"] if twin in final else final["test_accuracy"]
        assert events(logdir / session).Scalars("curves/test_accuracy")[-1].value == pytest.approx(printed, rel=1e-6)


def test_the_sprite_is_encoded_once_and_written_again_safely(tmp_path):
    """The Projector's sprite of the same images: encoded once, linked into a second run, and written
    again (a resumed run, a later run in the same process) without tripping over the link."""
    from compare.pictures import write_sprite

    images = np.random.default_rng(0).integers(0, 256, (9, 28, 28)).astype(np.uint8)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for target in (a, b, b, a, b):
        write_sprite(images, target)
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size > 0
    other = images.copy()
    other[0] = 0
    write_sprite(other, tmp_path / "c.png")  # other images: a sprite of their own
    assert (tmp_path / "c.png").read_bytes() != a.read_bytes()
