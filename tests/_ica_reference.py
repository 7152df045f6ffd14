"""The Cramér-Rao floor of the Amari error, for recovery tests (as the ICA
benchmark computes it: errors drawn from the asymptotic bound of linear ICA)."""

import numpy as np

from skvcreg.datasets import fisher_information
from skvcreg.metrics import amari_distance


def cramer_rao_amari(densities, n_samples, *, n_draws=400, seed=0):
    """Mean Amari distance (not x100) of unmixing errors drawn from the bound:
    for sources ``i < j`` the parts ``(E_ij, E_ji)`` of each in the estimate of
    the other are Gaussian with covariance ``[[J_i, 1], [1, J_j]]^-1 / N``."""
    rng = np.random.default_rng(seed)
    J = np.minimum([fisher_information(d) for d in densities], 1e12)
    m = len(J)
    errors = np.zeros((n_draws, m, m))
    for i in range(m):
        for j in range(i + 1, m):
            cov = np.linalg.inv([[J[i], 1.0], [1.0, J[j]]]) / n_samples
            pair = rng.multivariate_normal([0.0, 0.0], cov, size=n_draws)
            errors[:, i, j], errors[:, j, i] = pair[:, 0], pair[:, 1]
    eye = np.eye(m)
    return float(np.mean([amari_distance(eye + E, eye) for E in errors]))
