"""One training epoch of the `mcu` recipe in PyTorch, written for speed, timed.

    python scripts/peers/mcu_epoch.py DATA_DIR THREADS [IMAGES] [--bf16] [--profile N]

The recipe of `trainer fit` (trainer::train::recipe): the model
c16,c16,p,c32,c32,p,c64,c64,p,f,d10 (3x3 "same" convolutions, batch norm after each,
ReLU, max-pool 2x2, the pool before the ReLU as the trainer does), He-uniform convolutions, Glorot-uniform dense layer, zero biases;
AdamW (lr 0.003, betas 0.9/0.999, eps 1e-8, weight decay 0.05 on every parameter) under a
one-cycle schedule over 30 epochs (30 % warm-up from lr/25, then cosine to lr/1e4;
OneCycleLR's warm-up is a cosine where the trainer's is linear, which changes no
timing), random shifts of up to 2 pixels (zero fill) and left-right flips, cross-entropy
with label smoothing 0.1, batch 128, pixels scaled to [0, 1], all 60,000 training images
(or the first IMAGES).

Written for speed: channels-last activations, one batched `gather` for the shifts and
flips of the whole batch, `torch.optim.AdamW(fused=True)` (a single fused kernel over
all parameters), no per-step host synchronisation except the accuracy count, which
the trainer reports too. Timed: the epoch's steps after a warm-up of 10 steps (not
timed), as the trainer's `train_seconds` times its epoch.

With --bf16: the forward pass and the loss under CPU autocast to bf16
(`torch.autocast("cpu", dtype=torch.bfloat16)`, PyTorch's mixed precision on the CPU:
bf16 convolutions and matrix products where oneDNN has the kernels, fp32 weights,
optimizer and batch-norm statistics), the backward pass outside it as PyTorch advises.

Prints one JSON line: framework, version, precision, threads, images, seconds, train
accuracy.
With --profile N: runs N steps under torch.profiler instead and prints its tables (by
operator, and by operator and input shape).
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from epoch import find, idx  # noqa: E402

BATCH = 128
EPOCHS = 30
WARMUP = 10
SHIFT = 2


def load(data_dir, images):
    x = idx(find(data_dir, "train-images-idx3-ubyte"))[:images].astype(np.float32) / 255.0
    y = idx(find(data_dir, "train-labels-idx1-ubyte"))[:images].astype(np.int64)
    return x.reshape(-1, 1, 28, 28), y


def build(torch, nn):
    layers, c = [], 1
    for block in (16, 32, 64):
        layers += [nn.Conv2d(c, block, 3, padding=1), nn.BatchNorm2d(block), nn.ReLU()]
        # max-pool before ReLU (they commute, as in the trainer): ReLU on a quarter.
        layers += [nn.Conv2d(block, block, 3, padding=1), nn.BatchNorm2d(block),
                   nn.MaxPool2d(2), nn.ReLU()]
        c = block
    layers += [nn.Flatten(), nn.Linear(64 * 3 * 3, 10)]
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return net.to(memory_format=torch.channels_last)


def main():
    args = [a for a in sys.argv[1:]]
    profile = 0
    if "--profile" in args:
        i = args.index("--profile")
        profile = int(args[i + 1])
        del args[i:i + 2]
    adamw = "foreach"
    if "--adamw" in args:
        i = args.index("--adamw")
        adamw = args[i + 1]
        del args[i:i + 2]
    bf16 = "--bf16" in args
    if bf16:
        args.remove("--bf16")
    data_dir, threads = args[0], int(args[1])
    images = int(args[2]) if len(args) > 2 else 60_000
    if images < (WARMUP + 1) * BATCH:
        sys.exit(f"mcu_epoch.py: IMAGES must be at least {(WARMUP + 1) * BATCH} "
                 f"(the {WARMUP} warm-up steps and one timed step of {BATCH})")

    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x, y = load(data_dir, images)
    n = len(x)
    steps = (n + BATCH - 1) // BATCH
    net = build(torch, nn)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=0.003, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.05, **{
                                "fused": {"fused": True},
                                "foreach": {"foreach": True},
                                "forloop": {"foreach": False}}[adamw])
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.003, total_steps=EPOCHS * steps, pct_start=0.3, div_factor=25.0,
        final_div_factor=400.0, cycle_momentum=False)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    side = 28
    ar = torch.arange(side)
    padded_side = side + 2 * SHIFT
    gen = torch.Generator().manual_seed(1)

    def batch(sel):
        """Shifts (zero fill) and flips of the batch: one pad, one gather."""
        b = len(sel)
        xs = torch.nn.functional.pad(xt[sel], (SHIFT, SHIFT, SHIFT, SHIFT)).view(b, -1)
        dy = torch.randint(0, 2 * SHIFT + 1, (b, 1), generator=gen)
        dx = torch.randint(0, 2 * SHIFT + 1, (b, 1), generator=gen)
        flip = torch.rand(b, 1, generator=gen) < 0.5
        cols = torch.where(flip, side - 1 - ar, ar) + dx            # [b, 28]
        rows = ar + dy                                               # [b, 28]
        index = (rows[:, :, None] * padded_side + cols[:, None, :]).view(b, -1)
        out = xs.gather(1, index).view(b, 1, side, side)
        return out.contiguous(memory_format=torch.channels_last), yt[sel]

    order = torch.randperm(n, generator=gen)

    def step(i):
        sel = order[i * BATCH:(i + 1) * BATCH]
        xs, ys = batch(sel)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(xs)
            loss = loss_fn(out, ys)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return (out.argmax(1) == ys).sum()

    for i in range(WARMUP):
        step(i)
    if profile:
        from torch.profiler import ProfilerActivity, profile as prof
        with prof(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            for i in range(profile):
                step(i % steps)
        print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))
        print(p.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=40, max_name_column_width=40,
            max_shapes_column_width=70))
        return
    start = time.perf_counter()
    correct = torch.zeros((), dtype=torch.int64)
    for i in range(steps):
        correct += step(i)
    seconds = time.perf_counter() - start
    print(json.dumps({"framework": "torch", "version": torch.__version__,
                      "precision": "bf16" if bf16 else "fp32", "threads": threads,
                      "images": n, "seconds": round(seconds, 3),
                      "train_accuracy": round(int(correct) / n, 4)}))


if __name__ == "__main__":
    main()
