"""
========================================================
VCRegICA against FastICA on sources FastICA cannot split
========================================================

FastICA maximises a fixed non-Gaussianity contrast (``logcosh``). On skewed,
bimodal sources such as Bach & Jordan's density (j) that contrast is
almost flat, and FastICA returns a mixture. :class:`skvcreg.VCRegICA` minimises
a kernel independence contrast (the covariance of a random separable projector's
output, an HSIC), which sees every kind of dependence.

We mix two pairs of sources, one pair FastICA handles (Laplace and uniform) and
one it does not (two sources of density (j)), unmix them with both methods, and
compare the Amari error (0 is a perfect separation, see
:func:`skvcreg.metrics.amari_distance`).
"""

# %%
# Two mixtures
# ------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning

from skvcreg import VCRegICA
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import amari_distance, match_sources

problems = {
    "Laplace + uniform (both methods)": ["laplace", "uniform"],
    "two sources of density (j) (FastICA fails)": ["j", "j"],
}
data = {
    title: make_ica_mixture(densities, n_samples=2000, random_state=3)
    for title, densities in problems.items()
}

# %%
# Unmix with both methods
# -----------------------
methods = {
    "FastICA": lambda: FastICA(random_state=0),
    "VCRegICA": lambda: VCRegICA(random_state=0),
}
results = {}
for title, (X, _, A) in data.items():
    for name, make in methods.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator = make().fit(X)
        error = 100 * amari_distance(estimator.components_, A)
        results[title, name] = (estimator.transform(X), error)
        print(f"{title:<38} {name:<9} Amari error x100 = {error:6.2f}")

# The claim of this example: VCRegICA separates both problems, FastICA only the
# first.
hard = "two sources of density (j) (FastICA fails)"
assert results[hard, "VCRegICA"][1] < 5 < results[hard, "FastICA"][1]

# %%
# The recovered sources
# ---------------------
# Each panel plots the two recovered components against each other; independent
# sources fill an axis-aligned pattern, a residual mixture is tilted. The last
# column shows the first samples of each recovered signal, matched to the true
# sources (sign and order) with :func:`skvcreg.metrics.match_sources`.
fig, axes = plt.subplots(2, 4, figsize=(14, 6.5))
for row, (title, (X, S, _)) in enumerate(data.items()):
    axes[row, 0].scatter(S[:, 0], S[:, 1], s=2, alpha=0.4)
    axes[row, 0].set_title(f"true sources\n{title}", fontsize=9)
    axes[row, 1].scatter(X[:, 0], X[:, 1], s=2, alpha=0.4, color="gray")
    axes[row, 1].set_title("observed mixtures", fontsize=9)
    for col, name in enumerate(methods, start=2):
        S_est, error = results[title, name]
        axes[row, col].scatter(S_est[:, 0], S_est[:, 1], s=2, alpha=0.4)
        axes[row, col].set_title(f"{name}: Amari x100 = {error:.1f}", fontsize=9)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

fig, axes = plt.subplots(2, 1, figsize=(10, 4), sharex=True)
X, S, A = data[hard]
for k, ax in enumerate(axes):
    ax.plot(S[:150, k], color="black", lw=2, label="true source")
    for name, style in zip(methods, ["--", "-"], strict=True):
        match = match_sources(S, results[hard, name][0])
        ax.plot(match.aligned[:150, k], style, lw=1, label=name)
    ax.set_ylabel(f"source {k}")
axes[0].legend(loc="upper right", fontsize=8)
axes[0].set_title("density (j): recovered signals, first 150 samples")
fig.tight_layout()
plt.show()

# %%
# Numbers
# -------
# Over Bach & Jordan's 18 densities (``benchmarks/bench_ica.py``), VCRegICA's mean
# Amari error is several times FastICA's lower, and no density defeats it.
print(np.round([results[k][1] for k in results], 2))
