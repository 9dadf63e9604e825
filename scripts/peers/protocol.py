"""The seed study's whole protocol in Keras 3, timed: 5-fold cross-validation of the
baseline, 10 epochs per fold, a fresh model per fold, validation after every epoch.

    python scripts/peers/protocol.py DATA_DIR [THREADS]

The same model, initialisation, optimizer and batch size as scripts/peers/epoch.py, on
all 60,000 training images, folds from a seeded shuffle (as `trainer cv`). THREADS
(default: every core) sets TensorFlow's intra-op threads. Prints one JSON line:
framework, version, threads, seconds (wall time from the start of the script, data
loading included, as `trainer cv` is timed), and the folds' validation accuracies.
"""
import json
import os
import sys
import time

START = time.perf_counter()

FOLDS = 5
EPOCHS = 10
BATCH = 32


def main():
    data_dir = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    import keras

    sys.path.insert(0, os.path.dirname(__file__))
    from epoch import find, idx, keras_baseline

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    keras.utils.set_random_seed(1)
    x = idx(find(data_dir, "train-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = idx(find(data_dir, "train-labels-idx1-ubyte")).astype(np.int64)
    x = x.reshape(-1, 28, 28, 1)
    folds = np.array_split(np.random.default_rng(1).permutation(len(x)), FOLDS)
    accuracies = []
    for k in range(FOLDS):
        val = folds[k]
        train = np.concatenate([folds[j] for j in range(FOLDS) if j != k])
        model = keras_baseline()
        model.fit(x[train], y[train], batch_size=BATCH, epochs=EPOCHS, verbose=0,
                  validation_data=(x[val], y[val]))
        accuracies.append(round(float(model.evaluate(x[val], y[val], verbose=0)[1]), 4))
    print(json.dumps({"framework": "keras", "version": keras.__version__, "threads": threads,
                      "seconds": round(time.perf_counter() - START, 1),
                      "val_accuracy": accuracies}))


if __name__ == "__main__":
    main()
