"""One training epoch of the seed's baseline in a Python framework, timed.

    python scripts/peers/epoch.py torch|keras DATA_DIR THREADS

The baseline of the study: conv 32 3x3 (valid) + ReLU, max-pool 2x2, dense 100 + ReLU,
dense 10; He-uniform init; SGD lr 0.01 momentum 0.9; batch 32; pixels scaled to [0, 1].
Trains one epoch on the first 48,000 training images (a fold's training share) and prints
one JSON line: framework, version, threads, seconds (the epoch alone, after a warm-up
of 20 steps that is not timed), and the training accuracy of that epoch.
"""
import gzip
import json
import os
import sys
import time

import numpy as np

TRAIN = 48_000
BATCH = 32
WARMUP = 20


def idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    sys.exit(f"epoch.py: no {stem}[.gz] in {data_dir}")


def load(data_dir):
    x = idx(find(data_dir, "train-images-idx3-ubyte"))[:TRAIN].astype(np.float32) / 255.0
    y = idx(find(data_dir, "train-labels-idx1-ubyte"))[:TRAIN].astype(np.int64)
    return x.reshape(-1, 1, 28, 28), y


def run_torch(x, y, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 13 * 13, 100), nn.ReLU(), nn.Linear(100, 10),
    )
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.randperm(TRAIN)

    def step(i):
        idx = order[i * BATCH:(i + 1) * BATCH]
        out = net(xt[idx])
        loss = loss_fn(out, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return (out.argmax(1) == yt[idx]).sum().item()

    for i in range(WARMUP):
        step(i)
    start = time.perf_counter()
    correct = sum(step(i) for i in range(TRAIN // BATCH))
    return time.perf_counter() - start, correct / TRAIN, torch.__version__


def keras_baseline():
    """The baseline in Keras 3, compiled with the study's optimizer and loss."""
    import keras

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer="he_uniform"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="relu", kernel_initializer="he_uniform"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run_keras(x, y, threads):
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(1)
    model = keras_baseline()
    xk = x.reshape(-1, 28, 28, 1)
    model.fit(xk[:WARMUP * BATCH], y[:WARMUP * BATCH], batch_size=BATCH, epochs=1, verbose=0)
    start = time.perf_counter()
    hist = model.fit(xk, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
    return time.perf_counter() - start, float(hist.history["accuracy"][0]), keras.__version__


def main():
    framework, data_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    x, y = load(data_dir)
    run = {"torch": run_torch, "keras": run_keras}[framework]
    seconds, acc, version = run(x, y, threads)
    print(json.dumps({"framework": framework, "version": version, "threads": threads,
                      "seconds": round(seconds, 3), "train_accuracy": round(acc, 4)}))


if __name__ == "__main__":
    main()
