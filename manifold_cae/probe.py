"""Linear probe: how linearly separable the classes are in the encoder's code.

A scikit-learn ``LogisticRegression`` is fitted on f(x) of training points and
scored on f(x) of held-out points. It is not the MLP fine-tuning of Rifai et
al. (2011, Table 1): it measures the features as they are.

The inputs are read a batch at a time (a memmap's split stays on disk). The
classifier needs the training codes in memory, so at most :data:`PROBE_BYTES` of
them, as float64, are used: a larger training split is a seeded sample. The
held-out codes are scored batch by batch and never held whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from manifold_cae.models import Autoencoder

PROBE_BYTES = 256 * 2**20  # the probe's training codes, as float64, at most this
_BATCH = 1024


@torch.no_grad()
def encode_numpy(
    model: Autoencoder, X: Any, *, rows: np.ndarray | None = None, batch_size: int = _BATCH
) -> np.ndarray:
    """f(X) as float64 numpy, in batches.

    Args:
        model: the autoencoder.
        X: (n_samples, n_features) array, memmap or RowView.
        rows: (m,) the rows of X to encode (default all), read ``batch_size`` at a time.

    Returns:
        (m, n_hidden).
    """
    param = next(model.parameters())
    n = len(X) if rows is None else len(rows)
    out = [np.empty((0, model.n_hidden))]
    for i in range(0, n, batch_size):
        xb = X[i : i + batch_size] if rows is None else X[rows[i : i + batch_size]]
        # A copy: a memmap's rows are read-only, and torch warns when it shares those.
        x = torch.tensor(np.asarray(xb), dtype=param.dtype, device=param.device)
        out.append(model.encode(x).double().cpu().numpy())
    return np.concatenate(out)


def probe_sample(n_train: int, n_hidden: int, *, seed: int) -> np.ndarray | None:
    """The training rows the probe fits on: None for all of them when their codes fit in
    :data:`PROBE_BYTES`, else a seeded sample, sorted, of shape (cap,)."""
    cap = max(1, PROBE_BYTES // (8 * n_hidden))
    if n_train <= cap:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_train, size=cap, replace=False))


def linear_probe_accuracy(
    model: Autoencoder,
    X_train: Any,
    y_train: np.ndarray,
    X_test: Any,
    y_test: np.ndarray,
    *,
    seed: int = 0,
) -> float:
    """Held-out accuracy of logistic regression on encoder features.

    Args:
        model: the trained autoencoder.
        X_train: (n_train, n_features) array, memmap or RowView; y_train: (n_train,)
            integer labels. Beyond :data:`PROBE_BYTES` of codes, a seeded sample of
            rows (:func:`probe_sample`) is fitted on.
        X_test: (n_test, n_features); y_test: (n_test,).
        seed: ``random_state`` of the solver, and the seed of the sample.

    Returns:
        accuracy in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = probe_sample(len(X_train), model.n_hidden, seed=seed)
    features = encode_numpy(model, X_train, rows=rows)  # (n_fit, n_hidden)
    labels = np.asarray(y_train) if rows is None else np.asarray(y_train)[rows]
    scaler = StandardScaler().fit(features)
    clf = LogisticRegression(max_iter=2000, random_state=seed)
    clf.fit(scaler.transform(features), labels)
    del features
    y_test = np.asarray(y_test)
    correct = 0
    for i in range(0, len(X_test), _BATCH):
        codes = encode_numpy(model, X_test[i : i + _BATCH])
        correct += int((clf.predict(scaler.transform(codes)) == y_test[i : i + _BATCH]).sum())
    return correct / len(X_test)
