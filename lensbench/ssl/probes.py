"""Linear and kNN probes of frozen embeddings (the standard evaluation of self-supervised encoders;
beyond Deshmukh+23, which fine-tunes only).

The linear probe is scikit-learn's multinomial logistic regression on standardised embeddings;
the kNN probe votes among the ``k`` nearest training embeddings by cosine distance, weighted by
inverse distance. Both return class probabilities for the test embeddings.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader


def embeddings(encoder: torch.nn.Module, dataset, *, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """``encoder.forward_features`` of every item of ``dataset`` (images first), in order, in eval
    mode; float64 array (N, embedding_dim)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    encoder.to(device).eval()
    chunks = []
    with torch.inference_mode():
        for batch in loader:
            images = batch[0] if isinstance(batch, (list, tuple)) else batch
            chunks.append(encoder.forward_features(images.to(device)).double().cpu().numpy())
    return np.concatenate(chunks)


def linear_probe(train_x, train_y, test_x, *, seed: int, max_iter: int = 2000) -> np.ndarray:
    """Class probabilities (N_test, classes) of a logistic regression fitted on standardised
    training embeddings (L2 penalty C = 1, lbfgs)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    model.fit(np.asarray(train_x), np.asarray(train_y))
    return model.predict_proba(np.asarray(test_x))


def knn_probe(train_x, train_y, test_x, *, neighbours: int) -> np.ndarray:
    """Class probabilities (N_test, classes) from the ``neighbours`` nearest training embeddings by
    cosine distance, each vote weighted by 1 / distance (capped at the training set's size)."""
    k = min(int(neighbours), len(train_x))
    model = KNeighborsClassifier(n_neighbors=k, metric="cosine", weights="distance", algorithm="brute")
    model.fit(np.asarray(train_x), np.asarray(train_y))
    return model.predict_proba(np.asarray(test_x))
