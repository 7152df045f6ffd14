"""The Cramér-Rao floor of the Amari error, for recovery tests (as the ICA
benchmark computes it, from :func:`skvcreg.datasets.cramer_rao_errors`)."""

import numpy as np

from skvcreg.datasets import cramer_rao_errors
from skvcreg.metrics import amari_distance


def cramer_rao_amari(densities, n_samples, *, n_draws=400, seed=0):
    """Mean Amari distance (not x100) of unmixing errors drawn from the bound."""
    errors = cramer_rao_errors(densities, n_samples, n_draws=n_draws, random_state=seed)
    eye = np.eye(len(densities))
    return float(np.mean([amari_distance(eye + E, eye) for E in errors]))
