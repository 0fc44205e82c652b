"""The targets bench shows as met or missed (never asserted)."""

from __future__ import annotations

from compare.bench.figure import Figure


def targets(r: dict, batch_sizes) -> list[dict]:
    out = []

    def add(name, value, limit, fmt="{:.2f}"):
        out.append(
            {"target": name, "measured": value, "limit": limit, "met": value <= limit, "text": fmt.format(value)}
        )

    e = r["epoch_seconds"]
    for bs in batch_sizes:
        if Figure("manual", "float32", bs).key in e:
            add(
                f"manual / torch epoch time, float32, batch {bs} ≤ 1.0",
                e[Figure("manual", "float32", bs).key]["ratio_to_torch"],
                1.0,
            )
    for bs, s in r["dataloader_seconds"].items():
        add(
            f"torch twin ≥ 10× faster than DataLoader+ToTensor, batch {bs} (shown: DataLoader / torch, ≥ 10)",
            -s["torch_speedup"],
            -10.0,
            "{:.1f}×",
        )
    big = max(batch_sizes)
    for impl in ("manual", "torch"):
        key = Figure(impl, "float32", big).key
        if key in e:
            add(f"{impl} ≤ 3× FLOP floor, float32, batch {big}", e[key]["x_floor"], 3.0, "{:.1f}×")
    for bs, s in r["lockstep"].items():
        add(f"lockstep compare ≤ 1.15× the twins apart, batch {bs}", s["ratio"], 1.15)
    for key, s in r.get("plain_loops", {}).items():
        impl, bs = key.split("/")  # plain loops: "impl/batch"
        if "bare_ratio" not in s:
            add(f"{impl} twin ≤ 1.0× its plain-loop baseline, float32, batch {bs}", s["twin_ratio"], 1.0, "{:.2f}×")
            continue
        # issue 33's restatement: the twin's own code is targeted, judging it has a budget of its own, and the
        # judged twin against the plain loop is reported (bench's log line and JSON), not targeted
        add(
            f"bare {impl} twin (its own code) ≤ 1.0× the plain loop, float32, batch {bs}",
            s["bare_ratio"],
            1.0,
            "{:.2f}×",
        )
        if bs == "64":
            add(
                "judging ≤ 15% of a batch-64 step (per-step checks and the judge's own loss)",
                s["judging_share"],
                0.15,
                "{:.0%}",
            )
    for bs in r.get("gemm_floor", {}):
        limit = 2.0 if int(bs) >= 256 else 3.0
        for impl in ("manual", "torch"):
            if Figure(impl, "float32", bs).key in e:
                add(
                    f"{impl} twin ≤ {limit:g}× the GEMM floor, float32, batch {bs}",
                    e[Figure(impl, "float32", bs).key]["x_gemm_floor"],
                    limit,
                    "{:.1f}×",
                )
    cmds = r.get("startup", {}).get("commands", {})
    if "supervisor" in r.get("startup", {}):
        add(
            "the supervisor adds ≤ 50 ms to a command (fork, wait, exit)",
            r["startup"]["supervisor"]["overhead_ms"],
            50.0,
            "{:.1f} ms",
        )
    for name, limit in (("train --impl manual", 0.20), ("train --impl torch", 0.25), ("compare", 0.25)):
        if "outside_fraction" in cmds.get(name, {}):
            add(
                f"default `simplenet {name}`: ≤ {limit:.0%} of the wall time outside training steps",
                cmds[name]["outside_fraction"],
                limit,
                "{:.0%}",
            )
    for name, row in cmds.items():
        if "pictures_fraction" in row:
            add(f"default `simplenet {name}`: pictures ≤ 5% of its wall time", row["pictures_fraction"], 0.05, "{:.1%}")
    if "report_fraction" in cmds.get("compare", {}):
        add(
            "`simplenet report` of a default compare ≤ 5% of that compare's wall time",
            cmds["compare"]["report_fraction"],
            0.05,
            "{:.1%}",
        )
    manual = cmds.get("train --impl manual", {})
    if "to_first_step" in manual:
        add(
            "default `simplenet train --impl manual`: first step ≤ 1.0 s after start",
            manual["to_first_step"],
            1.0,
            "{:.2f}s",
        )
    if manual.get("imported_torch") is not None:
        add(
            "`simplenet train --impl manual` never imports torch (1 = it did)",
            float(manual["imported_torch"]),
            0.0,
            "{:.0f}",
        )
    if "logging" in r:
        add("per-step logging at the call site ≤ 2 µs per scalar", r["logging"]["call_site_us"], 2.0, "{:.2f} µs")
        add(
            "per-step logging amortised with the write ≤ 5 µs per scalar",
            r["logging"]["amortised_us"],
            5.0,
            "{:.2f} µs",
        )
    for name in ("gradcheck", "layercheck"):
        if name in cmds:
            add(f"`simplenet {name}` wall ≤ 1.3× a bare `import torch`", cmds[name]["wall_x_import"], 1.3, "{:.2f}×")
    worst_load = max(v["median"] for v in r["load_seconds"].values())
    add("MNIST load into memory ≤ 1 s (slowest twin/dtype)", worst_load, 1.0, "{:.2f}s")
    if r["device"].startswith("cuda"):
        add(
            "H100: torch twin ≤ 0.3 s per epoch, batch 64",
            e.get(Figure("torch", "float32", 64).key, {}).get("median", 1e9),
            0.3,
        )
    for t in out:
        if t["text"].endswith("×") and t["measured"] < 0:  # the ≥ target shown as a positive figure
            t["text"] = f"{-t['measured']:.1f}×"
    return out


def grade_targets(g: dict) -> list[dict]:
    """``bench --grade``'s targets (issue 33): a class graded in ≤ 1/10 of one command per check, and
    ≤ 0.3 s a submission beyond its checks' own time."""
    return [
        {
            "target": "simplenet grade ≤ 0.1× the same checks one command each",
            "measured": g["ratio"],
            "limit": 0.1,
            "met": g["ratio"] <= 0.1,
            "text": f"{g['ratio']:.3f}×",
        },
        {
            "target": "≤ 0.3 s a submission beyond its checks",
            "measured": g["overhead_per_submission_seconds"],
            "limit": 0.3,
            "met": g["overhead_per_submission_seconds"] <= 0.3,
            "text": f"{g['overhead_per_submission_seconds']:.2f} s",
        },
    ]
