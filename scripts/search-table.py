#!/usr/bin/env python3
"""Writes the small-model search's table (Markdown, to stdout) and its Pareto plot.

    scripts/search-table.py [SEARCH_DIR]        (default docs/results/search)

One row per candidate (each SEARCH_DIR/<name>/ as scripts/search.sh leaves it: fold-0.json
and command.txt), plus the shipped models' runs on the same fold: `mcu` at 12 epochs
(docs/results/cv-mcu, the earlier search's protocol) and `baseline` (docs/results/cv-baseline,
the seed's 10 epochs). Columns: layers, flags, epochs, parameters, MACs, the int8 `.fmq`
size (computed from the file format by scripts/sweep-table.py, checked there against the
committed models), the validation accuracy on fold 1 and the command.

The plot, SEARCH_DIR/pareto.svg, is validation accuracy against MACs (log scale), marker
area proportional to the `.fmq` size; candidates no other point beats at fewer or equal
MACs are filled (the Pareto front). Plain SVG, so nothing needs installing.
"""
import importlib.util
import json
import math
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def load_sweep_table():
    path = os.path.join(ROOT, "scripts", "sweep-table.py")
    spec = importlib.util.spec_from_file_location("sweep_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SWEEP = load_sweep_table()

def load_recipe():
    """The `mcu` recipe as scripts/search.sh spells it for layer strings (its `recipe=`
    variable; a trainer unit test checks it against the trainer's own recipe)."""
    with open(os.path.join(ROOT, "scripts", "search.sh")) as f:
        script = f.read()
    value = re.search(r'^recipe="([^"]*)"', script, re.M)
    if value is None:
        sys.exit("search-table.py: scripts/search.sh sets no recipe")
    return " ".join(value.group(1).replace("\\\n", " ").split())


# Shown as "recipe" in the table.
RECIPE = load_recipe()

# Shipped models' fold-1 runs, made before the search with these commands.
SHIPPED = [
    ("mcu", "docs/results/cv-mcu",
     "trainer cv --model mcu --fold 0 --epochs 12 --threads 1"),
    ("baseline", "docs/results/cv-baseline", "trainer cv --model baseline"),
]


def flags_of(command):
    """The command's training flags: without the model, epochs, fold, threads and output."""
    words, flags = command.split()[2:], []
    while words:
        word = words.pop(0)
        if word in ("--model", "--epochs", "--fold", "--threads", "--out"):
            words.pop(0)
        else:
            flags.append(word)
    return flags


def stage_of(name):
    """The scripts/search.sh STAGEs whose candidates include `name` ("1 or 4"; None if
    none does)."""
    with open(os.path.join(ROOT, "scripts", "search.sh")) as f:
        script = f.read()
    blocks = re.findall(r"^\s*(\d+)\) candidates=\((.*?)\) ;;", script, re.M | re.S)
    stages = [stage for stage, block in blocks if f'"{name}|' in block]
    return " or ".join(stages) or None


def pairs(flags):
    """A flag list as (flag, value) pairs (value "" for a flag without one)."""
    out = []
    for i, word in enumerate(flags):
        if word.startswith("--"):
            following = flags[i + 1] if i + 1 < len(flags) else "--"
            out.append((word, "" if following.startswith("--") else following))
    return out


def with_recipe(flags):
    """The flags as text, "recipe" in place of the recipe's flags when all of them are
    there (in any order), the candidate's own flags after it."""
    recipe, own = pairs(RECIPE.split()), pairs(flags)
    if not all(p in own for p in recipe):
        return " ".join(flags)
    rest = [f"{k} {v}".strip() for k, v in own if (k, v) not in recipe]
    return " ".join(["recipe"] + rest)


def made_by(name, command, shipped, fold_file):
    """The table's last column: the command, or the search stage and the command's file."""
    if shipped:
        return f"`{command}`"
    link = os.path.relpath(os.path.join(os.path.dirname(fold_file), "command.txt"),
                           os.path.join(ROOT, "docs"))
    stage = stage_of(name)
    script = f"scripts/search.sh {stage}" if stage else "scripts/search.sh"
    return f"`{script}` ([command]({link}))"


def row(name, fold_file, command, shipped):
    with open(fold_file) as f:
        fold = json.load(f)
    train = fold["config"]["train"]
    result = fold["result"]
    if result["fold"] != 0 or fold["config"]["split_seed"] != 1 or fold["config"]["folds"] != 5:
        sys.exit(f"search-table: {fold_file} is not fold 0 of the 5-fold split with seed 1")
    spec = SWEEP.NAMED.get(train["arch"], train["arch"])
    params, macs, fmq = SWEEP.walk(spec)
    flags = with_recipe(flags_of(command))
    return {
        "name": name, "layers": spec, "flags": flags, "epochs": train["epochs"],
        "params": params, "macs": macs, "fmq": fmq, "accuracy": result["accuracy"],
        "command": command, "shipped": shipped, "made_by": made_by(name, command, shipped, fold_file),
    }


def rows(search):
    out = []
    for name, directory, command in SHIPPED:
        out.append(row(name, os.path.join(ROOT, directory, "fold-0.json"), command, True))
    for name in sorted(os.listdir(search)):
        fold_file = os.path.join(search, name, "fold-0.json")
        if not os.path.exists(fold_file):
            continue
        with open(os.path.join(search, name, "command.txt")) as f:
            command = f.read().strip()
        out.append(row(name, fold_file, command, False))
    return out


def pareto(points):
    """Names of the points that no other point beats at fewer or equal MACs."""
    front = set()
    for p in points:
        if not any(q["macs"] <= p["macs"] and q["accuracy"] > p["accuracy"] for q in points):
            front.add(p["name"])
    return front


def svg(points, front):
    width, height, left, right, top, bottom = 760, 480, 70, 20, 20, 50
    lo_x = math.log10(min(p["macs"] for p in points) / 1.5)
    hi_x = math.log10(max(p["macs"] for p in points) * 1.5)
    accs = [100 * p["accuracy"] for p in points]
    lo_y, hi_y = math.floor(min(accs) - 0.5), math.ceil(max(accs) + 0.5)
    max_fmq = max(p["fmq"] for p in points)

    def x(macs):
        return left + (math.log10(macs) - lo_x) / (hi_x - lo_x) * (width - left - right)

    def y(acc):
        return top + (hi_y - acc) / (hi_y - lo_y) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="DejaVu Sans, sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    for tick in range(lo_y, hi_y + 1):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    for macs in (0.5e6, 1e6, 2e6, 5e6, 1e7, 2e7):
        if lo_x <= math.log10(macs) <= hi_x:
            parts.append(f'<line x1="{x(macs):.1f}" x2="{x(macs):.1f}" y1="{top}" '
                         f'y2="{height - bottom}" stroke="#ddd"/>')
            parts.append(f'<text x="{x(macs):.1f}" y="{height - bottom + 16}" '
                         f'text-anchor="middle">{macs / 1e6:g} M</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 10}" '
                 'text-anchor="middle">MACs per image (log scale)</text>')
    parts.append(f'<text transform="translate(16 {(top + height - bottom) / 2}) rotate(-90)" '
                 'text-anchor="middle">validation accuracy, fold 1 (%)</text>')
    # Labels sit right of their markers; markers at the same MACs get their labels pushed
    # apart (14 px at least) and joined to them by a thin line.
    last_label_y = {}
    for p in sorted(points, key=lambda p: -p["accuracy"]):
        r = 4 + 14 * math.sqrt(p["fmq"] / max_fmq)
        colour = "#1f77b4" if not p["shipped"] else "#d62728"
        fill = colour if p["name"] in front else "none"
        cx, cy = x(p["macs"]), y(100 * p["accuracy"])
        label_y = max(cy, last_label_y.get(p["macs"], -1e9) + 14)
        last_label_y[p["macs"]] = label_y
        label_x = cx + 22
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{fill}" '
                     f'fill-opacity="0.35" stroke="{colour}"/>')
        parts.append(f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{label_x - 2:.1f}" '
                     f'y2="{label_y:.1f}" stroke="#999" stroke-width="0.5"/>')
        parts.append(f'<text x="{label_x:.1f}" y="{label_y + 4:.1f}">{p["name"]}, {p["epochs"]} '
                     f'epochs ({100 * p["accuracy"]:.2f} %, {p["fmq"] / 1000:.1f} KB)</text>')
    parts.append(f'<text x="{left + 8}" y="{top + 14}" fill="#d62728">red: shipped models</text>')
    parts.append(f'<text x="{left + 8}" y="{top + 30}" fill="#1f77b4">blue: candidates; '
                 'filled: Pareto front; area: .fmq bytes</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    search = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs/results/search")
    SWEEP.check_formula(ROOT)
    points = rows(search)
    front = pareto(points)
    print("| candidate | layers | flags on top of the layers | epochs | parameters | MACs "
          "| int8 `.fmq` | validation accuracy (fold 1) | made by |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for p in sorted(points, key=lambda p: -p["accuracy"]):
        name = p["name"] + (" (shipped)" if p["shipped"] else "")
        print(f"| {name} | `{p['layers']}` | `{p['flags'] or 'its defaults'}` | {p['epochs']} | "
              f"{p['params']:,} | {p['macs']:,} | {p['fmq']:,} B | "
              f"{100 * p['accuracy']:.2f} % | {p['made_by']} |")
    path = os.path.join(search, "pareto.svg")
    with open(path + ".tmp", "w") as f:
        f.write(svg(points, front))
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
