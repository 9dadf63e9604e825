#!/usr/bin/env python3
"""Writes the sweep's results table (Markdown) from its cv.json files and compare.json.

    scripts/sweep-table.py [SWEEP_DIR]        (default docs/results/sweep)

One row per variant: mean +- std of the 5-fold accuracy, the paired difference to
`baseline` with its corrected 95 % CI and verdict (from `trainer compare`), parameters,
MACs, the size of the int8 `.fmq` the exporter would write, and the command. The
`.fmq` size is computed from the file format (docs/model-format.md): sizes do not depend
on the weights' values, except that a residual add's and a global mean's i32 multipliers
are postcard varints, counted here at their largest (5 bytes), so a model with `rN` or
`g` comes out up to a few bytes larger than its file; the formula is checked against
every committed `models/*/model.fmq` whose layer string it knows.
"""
import json
import os
import sys

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
               "Shirt", "Sneaker", "Bag", "Ankle boot"]
NAMED = {
    "baseline": "c32v,p,f,d100,d10",
    "padded": "c32,p,f,d100,d10",
    "wide": "c64,p,f,d100,d10",
    "deep": "c32,p,c64,p,f,d100,d10",
    "dense2": "c32v,p,f,d100,d100,d10",
    "mcu": "c16,c16,p,c32,c32,p,c64,c64,p,f,d10",
}


def varint(n):
    size = 1
    while n >= 128:
        n >>= 7
        size += 1
    return size


def blob(n):
    """A postcard byte string of n bytes."""
    return varint(n) + n


def walk(spec):
    """(parameters, MACs, .fmq bytes) of a layer string."""
    c, side, flat = 1, 28, None
    params = macs = 0
    payload = 8  # InputSpec: 28, 28, 1 (one byte each), scale f32, zero point i8
    layers = spec.split(",")
    # A residual block is four layers in the file: Save, two Conv2d, Add.
    payload += varint(len(layers) + 3 * sum(t.startswith("r") for t in layers))
    for layer in layers:
        payload += 1  # the enum tag
        if layer.startswith("r"):
            filters = int(layer[1:])
            for fan_in in (9 * c, 9 * filters):
                params += filters * fan_in + filters
                macs += filters * fan_in * side * side
                row = (fan_in + 3) // 4 * 4
                payload += 1 + varint(filters) + 3
                payload += blob(filters * row) + 2 * blob(4 * filters) + blob(filters) + 5
            # Save (tag only) and Add: relu, two i32 multipliers (postcard varints, at
            # most 5 bytes each: counted as 5), shift, output.
            payload += 1 + 1 + 1 + 5 + 5 + 1 + 5
            c = filters
        elif layer == "g":
            # GlobalMean (format 4): multiplier (a varint, counted as 5), shift, output.
            payload += 5 + 1 + 5
            side = 1
        elif layer.startswith("c"):
            filters = int(layer[1:].rstrip("v"))
            pad = 0 if layer.endswith("v") else 1
            side = side - 2 + 2 * pad
            fan_in = 9 * c
            params += filters * fan_in + filters
            macs += filters * fan_in * side * side
            row = (fan_in + 3) // 4 * 4
            payload += varint(filters) + 3  # out_channels, kernel, padding, relu
            payload += blob(filters * row) + 2 * blob(4 * filters) + blob(filters) + 5
            c = filters
        elif layer == "p":
            side //= 2
        elif layer == "f":
            flat = c * side * side
        elif layer.startswith("d"):
            outputs = int(layer[1:])
            n_in = flat if flat is not None else c
            params += n_in * outputs + outputs
            macs += n_in * outputs
            row = (n_in + 3) // 4 * 4
            payload += varint(outputs) + 1  # out_features, relu
            payload += blob(outputs * row) + 2 * blob(4 * outputs) + blob(outputs) + 5
            flat = outputs
    payload += varint(len(CLASS_NAMES)) + sum(blob(len(n)) for n in CLASS_NAMES)
    return params, macs, 16 + payload


def check_formula(root):
    for name, spec in NAMED.items():
        path = os.path.join(root, "models", name, "model.fmq")
        if os.path.exists(path):
            actual = os.path.getsize(path)
            computed = walk(spec)[2]
            if actual != computed:
                sys.exit(f"sweep-table: .fmq size formula gives {computed} B for {name}, "
                         f"the committed file has {actual} B")


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    sweep = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "docs/results/sweep")
    check_formula(root)
    with open(os.path.join(sweep, "compare.json")) as f:
        compare = json.load(f)
    by_run = {c["run"]: c for c in compare["comparisons"]}
    print("| variant | flags | 5-fold accuracy (mean ± std) | vs `baseline`: difference, "
          "corrected 95 % CI | verdict | parameters | MACs | int8 `.fmq` |")
    print("|---|---|---:|---|---|---:|---:|---:|")
    for run in compare["runs"]:
        path = run["run"]
        with open(os.path.join(path, "cv.json")) as f:
            cv = json.load(f)
        arch = cv["config"]["train"]["arch"]
        spec = NAMED.get(arch, arch)
        params, macs, fmq = walk(spec)
        flags = cv["command"].split(" --out ")[0].replace("trainer cv ", "")
        c = by_run.get(path)
        if c is None:
            diff, verdict = "(reference)", "—"
        else:
            lo, hi = c["ci_corrected"]
            diff = f"{100 * c['mean_diff']:+.2f} pt [{100 * lo:+.2f}, {100 * hi:+.2f}]"
            verdict = c["verdict"]
            if verdict != "no evidence":
                verdict = f"**{verdict}**"
        name = os.path.basename(path.rstrip("/"))
        print(f"| {name} | `{flags}` | {100 * run['mean']:.2f} ± {100 * run['std']:.2f} | "
              f"{diff} | {verdict} | {params:,} | {macs:,} | {fmq:,} B |")


if __name__ == "__main__":
    main()
