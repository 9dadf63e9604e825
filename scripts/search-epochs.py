#!/usr/bin/env python3
"""Writes a search's per-epoch table (Markdown, to stdout): how fast each candidate learns.

    scripts/search-epochs.py [--at 92,92.5,93] DIR ...

Each DIR is a search (its candidates' folders inside) or one candidate's folder, as
scripts/search.sh leaves them: fold-0.json, whose history holds the validation accuracy
after every epoch, and command.txt. One row per candidate. Columns: the flags that differ
from the reference's (the candidate with the fewest flags), the validation accuracy on
fold 1 after a third, two thirds and all of the epochs, the first epoch at which it
reached each threshold of --at ("-" if it never did), and the epochs' mean training
seconds (runs that shared the machine: a rough figure, not a speed result).

With a one-cycle schedule the learning rate depends on the run's length, so "epochs to
X" compares candidates of the same length only.
"""
import json
import os
import sys


def load(directory):
    """(name, command, per-epoch validation accuracies in %, mean epoch seconds)."""
    with open(os.path.join(directory, "fold-0.json")) as f:
        record = json.load(f)
    history = record["result"]["history"]
    with open(os.path.join(directory, "command.txt")) as f:
        command = f.read().strip()
    accuracies = [100.0 * epoch["val_accuracy"] for epoch in history]
    seconds = sum(epoch["train_seconds"] for epoch in history) / len(history)
    command = " ".join(w for w in command.split() if w != directory)
    return os.path.basename(directory), command, accuracies, seconds


def flags(command):
    """The command's flags as {flag: value} (a flag without a value gets "")."""
    words, out = command.split(), {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            following = words[i + 1] if i + 1 < len(words) else "--"
            out[word] = "" if following.startswith("--") else following
    return out


def flags_beyond(command, reference):
    """The flags of `command` that `reference` lacks or sets otherwise, in order."""
    ref = flags(reference)
    own = [f"{k} {v}".strip() for k, v in flags(command).items() if ref.get(k) != v]
    return " ".join(own) if own else "(the reference)"


def first_reaching(accuracies, threshold):
    for epoch, accuracy in enumerate(accuracies, start=1):
        if accuracy >= threshold:
            return str(epoch)
    return "-"


def main():
    args = sys.argv[1:]
    thresholds = [92.0, 92.5, 93.0]
    if args[:1] == ["--at"] and len(args) > 1:
        thresholds = [float(t) for t in args[1].split(",")]
        args = args[2:]
    if not args:
        sys.exit("usage: scripts/search-epochs.py [--at 92,92.5,93] DIR ...")
    runs = []
    for root in args:
        if os.path.isfile(os.path.join(root, "fold-0.json")):
            runs.append(load(root.rstrip("/")))
            continue
        for name in sorted(os.listdir(root)):
            if os.path.isfile(os.path.join(root, name, "fold-0.json")):
                runs.append(load(os.path.join(root, name)))
    if not runs:
        sys.exit(f"search-epochs.py: no candidate in {' '.join(args)} has a fold-0.json")
    # The reference (whose flags the others are shown against): the first by command
    # length, i.e. the one with the fewest flags of its own.
    reference = min(runs, key=lambda r: len(r[1].split()))[1]
    marks = sorted({max(1, round(len(r[2]) * k / 3)) for r in runs for k in (1, 2, 3)})
    header = (["candidate", "own flags"] + [f"after {m}" for m in marks]
              + [f"epochs to {t:g} %" for t in thresholds] + ["s per epoch"])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * 2 + "---:|" * (len(header) - 2))
    for name, command, accuracies, seconds in runs:
        after = [f"{accuracies[m - 1]:.2f} %" if m <= len(accuracies) else "" for m in marks]
        reached = [first_reaching(accuracies, t) for t in thresholds]
        own = flags_beyond(command, reference)
        row = [name, f"`{own}`"] + after + reached + [f"{seconds:.0f}"]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
