"""Linear probe: how linearly separable the classes are in the encoder's code.

A scikit-learn ``LogisticRegression`` is fitted on f(x) of training points and
scored on f(x) of held-out points. It is not the MLP fine-tuning of Rifai et
al. (2011, Table 1): it measures the features as they are.
"""

from __future__ import annotations

import numpy as np
import torch

from manifold_cae.models import Autoencoder


@torch.no_grad()
def encode_numpy(model: Autoencoder, X: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """f(X) as float64 numpy, (n_samples, n_hidden), in batches."""
    param = next(model.parameters())
    out = [
        model.encode(torch.as_tensor(np.asarray(X[i : i + batch_size]), dtype=param.dtype,
                                     device=param.device)).double().cpu().numpy()
        for i in range(0, len(X), batch_size)
    ]  # fmt: skip
    return np.concatenate(out)


def linear_probe_accuracy(
    model: Autoencoder,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    seed: int = 0,
) -> float:
    """Held-out accuracy of logistic regression on encoder features.

    Args:
        model: the trained autoencoder.
        X_train: (n_train, n_features); y_train: (n_train,) integer labels.
        X_test: (n_test, n_features); y_test: (n_test,).
        seed: ``random_state`` of the solver.

    Returns:
        accuracy in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(encode_numpy(model, X_train))
    clf = LogisticRegression(max_iter=2000, random_state=seed)
    clf.fit(scaler.transform(encode_numpy(model, X_train)), y_train)
    return float(clf.score(scaler.transform(encode_numpy(model, X_test)), y_test))
