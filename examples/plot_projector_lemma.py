r"""
===============================================================
The projector lemma: a separable projector's covariance is HSIC
===============================================================

Apply one random map ``psi: R -> R^L`` to each column of a data matrix ``Y``
separately and stack the results, ``Q = [psi(y_1), ..., psi(y_m)]``. Mialon,
Balestriero & LeCun (arXiv 2209.14905) observe that the ``(i, j)`` off-diagonal
block of the covariance of ``Q`` measures the dependence between ``y_i`` and
``y_j``: with the kernel ``k(a, a') = psi(a)^T psi(a')``, its Gram matrices
``K_i``, the centring matrix ``H = I - 11^T / n`` and covariances normalised by
``n - 1``,

.. math::

    \| \mathrm{Cov}(\psi(y_i), \psi(y_j)) \|_F^2
    = \frac{\mathrm{tr}(K_i H K_j H)}{(n - 1)^2}
    = \mathrm{HSIC}_k(y_i, y_j),

the biased HSIC with the ``(n - 1)^{-2}`` normalisation used throughout
:mod:`skvcreg.metrics` (codes that divide by ``n^2`` instead give this value
times ``(n - 1)^2 / n^2``). The identity is exact linear algebra and holds for
any ``psi``: with ``Psi_i = psi(y_i)`` the ``n x L`` feature matrix,
``Cov(psi(y_i), psi(y_j)) = Psi_i^T H Psi_j / (n - 1)`` and
``K_i = Psi_i Psi_i^T``, and ``||A^T B||_F^2 = tr(A A^T B B^T)``. So VCReg's
covariance term on the output of a separable projector is a sum of pairwise
HSICs of the projector's *inputs*; when ``k`` is close to a characteristic
kernel such as the Gaussian, driving it to zero drives the inputs towards
pairwise independence.

This example checks the identity numerically in float64 for
:class:`skvcreg.projectors.SeparableRandomProjector` with random Fourier and
random ReLU features, on pairs of variables that are independent and pairs that
are not, and then shows the Fourier kernel approaching the Gaussian kernel as
``L`` grows.
"""

# %%
# Six variables, some dependent
# -----------------------------
# Three independent sources (Gaussian, uniform, Laplace) and three variables
# built from them: a quadratic, a periodic and a linear dependence, each with
# some noise. Of the 15 pairs, 3 are dependent (each derived variable with its
# source) and the other 12 are independent. Every column is standardised, the
# scale the projector expects.
import matplotlib.pyplot as plt
import numpy as np
import torch

from skvcreg.losses import cross_covariance_loss
from skvcreg.metrics import hsic
from skvcreg.projectors import SeparableRandomProjector

rng = np.random.default_rng(0)
n = 500
x1 = rng.normal(size=n)
x2 = rng.uniform(-1, 1, size=n)
x3 = rng.laplace(size=n)
columns = {
    "x1 (normal)": x1,
    "x2 (uniform)": x2,
    "x3 (Laplace)": x3,
    "x1^2 + noise": x1**2 + 0.3 * rng.normal(size=n),
    "cos(3 x2) + noise": np.cos(3 * x2) + 0.3 * rng.normal(size=n),
    "x3 + noise": x3 + rng.normal(size=n),
}
names = list(columns)
Y = np.column_stack(list(columns.values()))
Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
m = Y.shape[1]
print(f"Y: {n} samples, {m} columns, {m * (m - 1) // 2} pairs")

# %%
# Left side: blocks of the projector's output covariance
# ------------------------------------------------------
# One forward pass of the projector maps ``Y`` (``n x m``) to ``Q``
# (``n x mL``); column block ``j`` of ``Q`` is ``psi(y_j)``. The squared
# Frobenius norms of the ``L x L`` blocks of ``Cov(Q)`` form an ``m x m`` matrix.
L = 64


def covariance_blocks(Q, m, L):
    """``B[i, j] = ||Cov(Q)[block i, block j]||_F^2``, covariance over n - 1."""
    Qc = Q - Q.mean(axis=0)
    C = Qc.T @ Qc / (Q.shape[0] - 1)
    return (C.reshape(m, L, m, L) ** 2).sum(axis=(1, 3))


projectors = {
    kind: SeparableRandomProjector(
        (L,),
        kind=kind,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    )
    for kind in ("fourier", "relu")
}
Y_torch = torch.from_numpy(Y)
with torch.no_grad():
    Q = {kind: p(Y_torch).numpy() for kind, p in projectors.items()}
blocks = {kind: covariance_blocks(Q[kind], m, L) for kind in projectors}

# %%
# Right side: HSIC from the kernel's Gram matrices
# ------------------------------------------------
# Here nothing goes through a covariance. ``psi`` is written out in numpy from
# the projector's documented formula and its random weights:
# ``sqrt(2 / L) cos(w t + b)`` for Fourier features and
# ``sqrt(2 / L) max(0, w t + b)`` for ReLU features. The Gram matrix of each
# column is ``K[a, a'] = psi(y[a])^T psi(y[a'])`` and the HSIC of a pair is
# ``trace(K_i H K_j H) / (n - 1)^2``, literally.


def psi_numpy(projector, t):
    """The projector's single-layer feature map, rewritten in numpy."""
    w = projector.weight.numpy()
    b = projector.bias.numpy()
    phase = np.outer(t, w) + b
    if projector.kind == "fourier":
        return np.sqrt(2 / len(w)) * np.cos(phase)
    return np.sqrt(2 / len(w)) * np.maximum(phase, 0.0)


H = np.eye(n) - np.ones((n, n)) / n
pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
hsic_trace = {}
for kind, projector in projectors.items():
    features = [psi_numpy(projector, Y[:, j]) for j in range(m)]
    KH = [F @ F.T @ H for F in features]  # K_j H, once per column
    hsic_trace[kind] = np.zeros((m, m))
    for i, j in pairs:
        value = np.trace(KH[i] @ KH[j]) / (n - 1) ** 2
        hsic_trace[kind][i, j] = hsic_trace[kind][j, i] = value

# %%
# The two sides agree
# -------------------
# For each kind of feature, the table lists every pair with the two
# computations and their relative difference.
worst = 0.0
for kind in projectors:
    print(f"\n{kind} features, L = {L}")
    header = f"{'||Cov block||_F^2':>19}{'tr(KHLH)/(n-1)^2':>19}{'rel. diff':>11}"
    print(f"{'pair':<36}{header}")
    for i, j in pairs:
        left, right = blocks[kind][i, j], hsic_trace[kind][i, j]
        rel = abs(left - right) / abs(right)
        worst = max(worst, rel)
        print(
            f"{names[i] + ' / ' + names[j]:<36}{left:19.12f}{right:19.12f}{rel:11.1e}"
        )
print(f"\nlargest relative difference over both kinds and all pairs: {worst:.1e}")

# VCReg's covariance term on the projector output, keeping only the blocks
# between different columns (what VCRegEmbedder(projector="separable") and
# VCRegICA minimise), is the sum of the pairwise HSICs divided by mL.
off_diagonal = ~np.eye(m, dtype=bool)
loss_gap = max(
    abs(
        float(cross_covariance_loss(torch.from_numpy(Q[kind]), m))
        - hsic_trace[kind][off_diagonal].sum() / (m * L)
    )
    / (hsic_trace[kind][off_diagonal].sum() / (m * L))
    for kind in projectors
)
print(f"cross_covariance_loss(Q, m) vs sum of HSICs / (mL): rel. diff {loss_gap:.1e}")

# The claim of this example: the identity holds to rounding error in float64,
# for every pair, dependent or not, and for both kinds of features.
assert worst < 1e-10 and loss_gap < 1e-10

# %%
# Fourier features approach the Gaussian kernel
# ---------------------------------------------
# With ``w ~ N(0, 1)`` and ``b ~ U[0, 2 pi)``, ``psi(a)^T psi(a')`` is a Monte
# Carlo estimate of the Gaussian kernel ``exp(-(a - a')^2 / 2)`` (Rahimi &
# Recht, 2007), so as ``L`` grows the block norms approach the Gaussian-kernel
# HSIC that :func:`skvcreg.metrics.hsic` computes exactly (bandwidth 1). We
# measure, for several widths and 5 draws of the random weights each, the
# largest error of the kernel on a grid of ``[-3, 3]`` and the relative error
# of the HSIC of the pair ``(x1, x1^2 + noise)``. (ReLU features converge to a
# different, non-Gaussian kernel, not shown.)
grid = np.linspace(-3, 3, 121)
gaussian = np.exp(-((grid[:, None] - grid[None, :]) ** 2) / 2)
pair = (0, 3)
exact = hsic(Y[:, pair[0]], Y[:, pair[1]], bandwidth=1.0)
widths = [16, 64, 256, 1024, 4096]
kernel_error = np.zeros((len(widths), 5))
hsic_error = np.zeros((len(widths), 5))
kernel_row = {}
for a, width in enumerate(widths):
    for draw in range(5):
        projector = SeparableRandomProjector(
            (width,), generator=torch.Generator().manual_seed(draw)
        )
        F = psi_numpy(projector, grid)
        kernel_error[a, draw] = np.abs(F @ F.T - gaussian).max()
        if draw == 0:
            kernel_row[width] = F @ F[60]  # k(t, 0)
        Pi = psi_numpy(projector, Y[:, pair[0]])
        Pj = psi_numpy(projector, Y[:, pair[1]])
        Pi -= Pi.mean(axis=0)
        Pj -= Pj.mean(axis=0)
        # The block norm ||Pi^T Pj||_F^2 / (n-1)^2, through the n x n Grams
        # (by the identity above), which is cheaper once L > n.
        approx = np.sum((Pi @ Pi.T) * (Pj @ Pj.T)) / (n - 1) ** 2
        hsic_error[a, draw] = abs(approx - exact) / exact
print(f"\nGaussian-kernel HSIC of ({names[pair[0]]}, {names[pair[1]]}): {exact:.5f}")
print(f"{'L':>6}{'max kernel error':>20}{'HSIC rel. error':>18}  (median of 5 draws)")
for a, width in enumerate(widths):
    print(
        f"{width:6d}{np.median(kernel_error[a]):20.4f}{np.median(hsic_error[a]):18.4f}"
    )

# %%
# Figure
# ------
# Left: the two sides of the identity for all 15 pairs and both feature kinds
# (dependent pairs sit at the top right). Middle: ``k(t, 0)`` for one draw of
# Fourier features of several widths, against the Gaussian kernel. Right: the
# errors against ``L``, with a dotted ``L^{-1/2}`` slope for reference.
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
ax = axes[0]
for kind, marker in zip(projectors, ["o", "s"], strict=True):
    left = np.array([blocks[kind][i, j] for i, j in pairs])
    right = np.array([hsic_trace[kind][i, j] for i, j in pairs])
    ax.loglog(right, left, marker, mfc="none", label=f"{kind} features")
span = np.array(ax.get_xlim())
ax.loglog(span, span, "k-", lw=0.8, label="y = x")
ax.set_xlabel(r"$\mathrm{tr}(K_i H K_j H) / (n-1)^2$")
ax.set_ylabel(r"$\|\mathrm{Cov}(\psi(y_i), \psi(y_j))\|_F^2$")
ax.set_title(f"the identity, 15 pairs (largest rel. diff {worst:.0e})", fontsize=10)
ax.legend(fontsize=8)

ax = axes[1]
for width in (16, 256, 4096):
    ax.plot(grid, kernel_row[width], lw=1.5, label=f"Fourier features, L = {width}")
ax.plot(grid, np.exp(-(grid**2) / 2), "k--", lw=1.5, label="Gaussian kernel")
ax.set_xlabel("t")
ax.set_ylabel(r"$k(t, 0) = \psi(t)^T \psi(0)$")
ax.set_title("the random-feature kernel", fontsize=10)
ax.legend(fontsize=8)

ax = axes[2]
ax.loglog(widths, np.median(kernel_error, axis=1), "o-", label="max kernel error")
ax.loglog(widths, np.median(hsic_error, axis=1), "s-", label="HSIC relative error")
reference = np.median(kernel_error[0]) * np.sqrt(widths[0] / np.array(widths))
ax.loglog(widths, reference, "k:", label=r"$\propto L^{-1/2}$")
ax.set_xlabel("L (features per column)")
ax.set_title("convergence to the Gaussian kernel (median of 5 draws)", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
