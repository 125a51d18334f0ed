"""Calibration of fake probabilities: reliability diagrams, expected calibration error, temperature scaling.

Binary throughout: ``labels`` are 1 for fake and 0 for real, ``probs`` the predicted probability of fake.
Reliability bins are ``n_bins`` equal-width intervals of ``[0, 1]``, closed on the right (``(0.1, 0.2]``) with
0 in the first. ECE is ``sum_b (n_b / N) * |fraction fake in b - mean predicted probability in b|``.

Temperature scaling (Guo et al., 2017) rescales the detector's fake logit (``logit_fake - logit_real``):
``p_fake = sigmoid(fake_logit / T)``. :func:`fit_temperature` picks the ``T`` minimising the mean negative
log-likelihood on held-out (logit, label) pairs; the NLL is convex in ``1 / T``, so a bounded 1-D search finds
the one minimum. ``T`` is kept within ``[T_MIN, T_MAX]`` so separable data cannot drive it to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from dftag.core.errors import DftagError

DEFAULT_BINS = 10
T_MIN, T_MAX = 0.05, 20.0


def _bin_index(probs: np.ndarray, n_bins: int) -> np.ndarray:
    return np.clip(np.ceil(np.asarray(probs, dtype=np.float64) * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


@dataclass
class Reliability:
    """Per bin: ``edges`` ``(n_bins + 1,)``, ``counts``, ``mean_prob`` and ``frac_fake`` (NaN in empty bins)."""

    edges: np.ndarray
    counts: np.ndarray
    mean_prob: np.ndarray
    frac_fake: np.ndarray

    def to_dict(self) -> dict[str, list]:
        def plain(a: np.ndarray) -> list:
            return [None if np.isnan(v) else float(v) for v in a]

        return {"edges": self.edges.tolist(), "counts": self.counts.tolist(),
                "mean_prob": plain(self.mean_prob), "frac_fake": plain(self.frac_fake)}


def reliability(labels: np.ndarray, probs: np.ndarray, n_bins: int = DEFAULT_BINS) -> Reliability:
    """Reliability-diagram data for binary predictions."""
    idx = _bin_index(probs, n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(idx, weights=np.asarray(probs, dtype=np.float64), minlength=n_bins) / counts
        frac_fake = np.bincount(idx, weights=np.asarray(labels, dtype=np.float64), minlength=n_bins) / counts
    return Reliability(edges=np.linspace(0.0, 1.0, n_bins + 1), counts=counts, mean_prob=mean_prob,
                       frac_fake=frac_fake)


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """ECE over equal-width bins (see module docstring); 0 for no predictions."""
    r = reliability(labels, probs, n_bins)
    filled = r.counts > 0
    if not filled.any():
        return 0.0
    weights = r.counts[filled] / r.counts.sum()
    return float(np.sum(weights * np.abs(r.frac_fake[filled] - r.mean_prob[filled])))


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))``, the inverse of :func:`sigmoid` (infinite at 0 and 1: clip ``p`` first)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def scale_probability(p: float, temperature: float, clip: tuple[float, float]) -> float:
    """Temperature scaling of one probability: ``sigmoid(logit(p') / temperature)`` with ``p'`` = ``p`` clipped to
    ``clip``, and the result clipped to ``clip`` again."""
    z = logit(np.clip(p, *clip)) / temperature
    return float(np.clip(sigmoid(z), *clip))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean binary negative log-likelihood of ``sigmoid(logits / temperature)``, computed stably."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    y = np.asarray(labels, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in ``[T_MIN, T_MAX]`` minimising :func:`nll`; needs both labels present."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if len(logits) == 0 or labels.min() == labels.max():
        raise DftagError("temperature fitting needs both real and fake examples")
    result = minimize_scalar(lambda inv_t: nll(logits * inv_t, labels), bounds=(1 / T_MAX, 1 / T_MIN),
                             method="bounded", options={"xatol": 1e-8})
    return float(1.0 / result.x)
