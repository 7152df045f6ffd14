"""Tests for skvcreg.losses: every formula against a direct numpy float64 loop."""

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from skvcreg.losses import (
    BarlowTwinsLoss,
    VCRegLoss,
    VICRegLoss,
    WMSELoss,
    barlow_twins_loss,
    covariance_loss,
    cross_covariance_loss,
    invariance_loss,
    normalized_cross_covariance_loss,
    variance_loss,
    vcreg_loss,
    vicreg_loss,
    vicreg_terms,
    wmse_loss,
)

# float64 throughout: the torch and numpy computations differ only by summation
# order, so agreement to ~1e-10 relative is expected.
RTOL = 1e-10


def _rng(seed=0):
    return np.random.default_rng(seed)


def _np_cov(Z):
    n = Z.shape[0]
    Zc = Z - Z.mean(axis=0)
    C = np.zeros((Z.shape[1], Z.shape[1]))
    for k in range(n):
        C += np.outer(Zc[k], Zc[k])
    return C / (n - 1)


def _np_variance(Z, gamma=1.0, eps=1e-4):
    D = Z.shape[1]
    total = 0.0
    for j in range(D):
        std = np.sqrt(np.var(Z[:, j], ddof=1) + eps)
        total += max(0.0, gamma - std)
    return total / D


def _np_covariance(Z):
    C = _np_cov(Z)
    D = Z.shape[1]
    return sum(C[i, j] ** 2 for i in range(D) for j in range(D) if i != j) / D


def _np_invariance(Z, Zp):
    return np.mean((Z - Zp) ** 2)


def _np_biased_hsic(A, B):
    """Biased HSIC with linear kernels on feature maps: tr(K H L H) / (n-1)^2."""
    n = A.shape[0]
    K = A @ A.T
    Lg = B @ B.T
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ Lg @ H) / (n - 1) ** 2


def _t(a):
    return torch.as_tensor(a, dtype=torch.float64)


@pytest.mark.parametrize("n, D", [(2, 3), (7, 3), (50, 8), (6, 20)])
@pytest.mark.parametrize("scale", [0.05, 1.0, 3.0])
def test_variance_loss_matches_numpy(n, D, scale):
    Z = scale * _rng(n * D).normal(size=(n, D))
    assert_allclose(float(variance_loss(_t(Z))), _np_variance(Z), rtol=RTOL)


@pytest.mark.parametrize("gamma, eps", [(0.5, 1e-4), (2.0, 0.0), (1.0, 1e-2)])
def test_variance_loss_gamma_eps(gamma, eps):
    Z = 0.7 * _rng(1).normal(size=(30, 5))
    got = variance_loss(_t(Z), gamma=gamma, eps=eps)
    assert_allclose(float(got), _np_variance(Z, gamma, eps), rtol=RTOL)


# (6, 20) and (3, 10) take the Gram-matrix path (D > n); the others the D x D path.
@pytest.mark.parametrize("n, D", [(2, 2), (10, 3), (50, 8), (6, 20), (3, 10)])
def test_covariance_loss_matches_numpy(n, D):
    Z = _rng(n + D).normal(size=(n, D)) @ _rng(1).normal(size=(D, D))
    assert_allclose(float(covariance_loss(_t(Z))), _np_covariance(Z), rtol=1e-9)


@pytest.mark.parametrize("shape", [(4, 3), (1, 5)])
def test_invariance_loss_matches_numpy_and_mse(shape):
    rng = _rng(3)
    Z, Zp = rng.normal(size=shape), rng.normal(size=shape)
    if shape[0] < 2:
        with pytest.raises(ValueError, match="at least 2 rows"):
            invariance_loss(_t(Z), _t(Zp))
        return
    got = invariance_loss(_t(Z), _t(Zp))
    assert_allclose(float(got), _np_invariance(Z, Zp), rtol=RTOL)
    mse = torch.nn.functional.mse_loss(_t(Z), _t(Zp))
    assert_allclose(float(got), float(mse), rtol=RTOL)


def test_invariance_loss_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        invariance_loss(torch.zeros(4, 3), torch.zeros(4, 2))


# n = 40 > D = 12 takes the masked D x D path, n = 9 < D the Gram path.
@pytest.mark.parametrize("n", [40, 9])
@pytest.mark.parametrize("n_blocks, L", [(2, 6), (3, 4), (4, 3)])
def test_cross_covariance_loss_equals_sum_of_pairwise_hsic(n, n_blocks, L):
    """The projector lemma: off-block ||C||_F^2 is the sum of biased HSICs."""
    rng = _rng(n * n_blocks)
    y = rng.normal(size=(n, n_blocks))
    y[:, 1] += 0.8 * y[:, 0] ** 2  # make blocks dependent
    w = rng.normal(size=L)
    b = rng.uniform(0, 2 * np.pi, size=L)
    blocks = [np.cos(np.outer(y[:, i], w) + b) for i in range(n_blocks)]
    Q = np.concatenate(blocks, axis=1)
    D = n_blocks * L
    expected = (
        sum(
            _np_biased_hsic(blocks[i], blocks[j])
            for i in range(n_blocks)
            for j in range(n_blocks)
            if i != j
        )
        / D
    )
    got = cross_covariance_loss(_t(Q), n_blocks)
    assert_allclose(float(got), expected, rtol=1e-9)
    assert float(got) > 0


@pytest.mark.parametrize("n", [30, 5])
def test_cross_covariance_loss_with_single_column_blocks_is_covariance_loss(n):
    Z = _t(_rng(5).normal(size=(n, 8)))
    assert_allclose(
        float(cross_covariance_loss(Z, 8)), float(covariance_loss(Z)), rtol=1e-9
    )
    assert float(cross_covariance_loss(Z, 1)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n_blocks", [0, 5, -1])
def test_cross_covariance_loss_bad_blocks(n_blocks):
    with pytest.raises(ValueError, match="positive divisor"):
        cross_covariance_loss(torch.zeros(4, 8), n_blocks)


def test_vicreg_loss_matches_numpy_with_averaged_variance():
    rng = _rng(7)
    Z = rng.normal(size=(32, 6)) * np.linspace(0.1, 2.0, 6)
    Zp = Z + 0.3 * rng.normal(size=Z.shape)
    lam, mu, nu = 25.0, 25.0, 1.0
    expected = (
        lam * _np_invariance(Z, Zp)
        + mu * (_np_variance(Z) + _np_variance(Zp)) / 2  # averaged over views
        + nu * (_np_covariance(Z) + _np_covariance(Zp))  # summed over views
    )
    assert_allclose(float(vicreg_loss(_t(Z), _t(Zp))), expected, rtol=1e-9)
    # The paper's summed convention is variance_weight=50.
    paper = (
        lam * _np_invariance(Z, Zp)
        + mu * (_np_variance(Z) + _np_variance(Zp))
        + nu * (_np_covariance(Z) + _np_covariance(Zp))
    )
    got = vicreg_loss(_t(Z), _t(Zp), variance_weight=2 * mu)
    assert_allclose(float(got), paper, rtol=1e-9)


@pytest.mark.parametrize("weights", [(25.0, 25.0, 1.0), (0.0, 1.0, 0.04), (1, 0, 0)])
def test_vicreg_terms_recombine_to_loss_and_module(weights):
    lam, mu, nu = weights
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(20, 5, generator=g, dtype=torch.float64)
    Zp = torch.randn(20, 5, generator=g, dtype=torch.float64)
    terms = vicreg_terms(Z, Zp)
    expected = lam * terms.invariance + mu * terms.variance + nu * terms.covariance
    loss = vicreg_loss(
        Z, Zp, invariance_weight=lam, variance_weight=mu, covariance_weight=nu
    )
    module = VICRegLoss(invariance_weight=lam, variance_weight=mu, covariance_weight=nu)
    assert_allclose(float(loss), float(expected), rtol=RTOL)
    assert_allclose(float(module(Z, Zp)), float(expected), rtol=RTOL)


def test_vcreg_loss_matches_numpy_and_module():
    Z = _rng(9).normal(size=(40, 7))
    expected = 25.0 * _np_variance(Z) + _np_covariance(Z)
    assert_allclose(float(vcreg_loss(_t(Z))), expected, rtol=1e-9)
    assert_allclose(float(VCRegLoss()(_t(Z))), expected, rtol=1e-9)
    got = vcreg_loss(_t(Z), variance_weight=2.0, covariance_weight=0.5)
    expected = 2.0 * _np_variance(Z) + 0.5 * _np_covariance(Z)
    assert_allclose(float(got), expected, rtol=1e-9)


LOSSES = {
    "variance": lambda Z, Zp: variance_loss(Z),
    "covariance": lambda Z, Zp: covariance_loss(Z),
    "cross_covariance": lambda Z, Zp: cross_covariance_loss(Z, 3),
    "invariance": invariance_loss,
    "vcreg": lambda Z, Zp: vcreg_loss(Z),
    "vicreg": vicreg_loss,
    "barlow_twins": barlow_twins_loss,
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
@pytest.mark.parametrize("n, D", [(16, 6), (4, 12)])
def test_leading_batch_dimensions(name, lead, n, D):
    fn = LOSSES[name]
    g = torch.Generator().manual_seed(1)
    Z = torch.randn(*lead, n, D, generator=g, dtype=torch.float64)
    Zp = Z + 0.1 * torch.randn(*lead, n, D, generator=g, dtype=torch.float64)
    out = fn(Z, Zp)
    assert out.shape == lead
    flat_Z, flat_Zp = Z.reshape(-1, n, D), Zp.reshape(-1, n, D)
    each = torch.stack([fn(a, b) for a, b in zip(flat_Z, flat_Zp, strict=True)])
    assert_allclose(out.reshape(-1).numpy(), each.numpy(), rtol=1e-9)


def _np_cross_covariance(Z, n_blocks):
    C = _np_cov(Z)
    D = Z.shape[1]
    block = np.arange(D) // (D // n_blocks)
    return np.sum(C**2 * (block[:, None] != block[None, :])) / D


NUMPY_LOSSES = {
    "variance": lambda Z, Zp: _np_variance(Z),
    "covariance": lambda Z, Zp: _np_covariance(Z),
    "cross_covariance": lambda Z, Zp: _np_cross_covariance(Z, 3),
    "invariance": _np_invariance,
    "vcreg": lambda Z, Zp: 25.0 * _np_variance(Z) + _np_covariance(Z),
    "vicreg": lambda Z, Zp: (
        25.0 * _np_invariance(Z, Zp)
        + 25.0 * (_np_variance(Z) + _np_variance(Zp)) / 2
        + _np_covariance(Z)
        + _np_covariance(Zp)
    ),
    "barlow_twins": lambda Z, Zp: _np_barlow_twins(Z, Zp),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_short_last_batch_uses_its_own_size(name):
    """A batch of 3 rows sliced from a longer batch is normalised by 3 - 1."""
    fn = LOSSES[name]
    rows = _rng(11).normal(size=(10, 6))
    Z, Zp = rows[:3], rows[:3] + 0.2 * _rng(12).normal(size=(3, 6))
    # Normalising by n = 3, or by the 10 rows of the parent batch, changes every
    # term that holds a (co)variance by a factor of at least (3 / 2)^2.
    assert_allclose(float(fn(_t(Z), _t(Zp))), NUMPY_LOSSES[name](Z, Zp), rtol=1e-9)


@pytest.mark.parametrize("name", ["variance", "covariance", "cross_covariance"])
def test_one_row_is_an_error(name):
    with pytest.raises(ValueError, match="at least 2 rows"):
        LOSSES[name](torch.zeros(1, 6), torch.zeros(1, 6))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spread", [0.0, 1e-8, 1e-3])
def test_gradient_is_finite_and_nonzero_near_collapse(dtype, spread):
    """The hinge on sqrt(Var + eps) keeps the gradient finite at collapse."""
    g = torch.Generator().manual_seed(2)
    base = torch.randn(1, 4, generator=g, dtype=dtype)
    noise = torch.randn(16, 4, generator=g, dtype=dtype)
    Z = (base + spread * noise).requires_grad_(True)
    Zp = Z.detach() + spread * torch.randn(16, 4, generator=g, dtype=dtype)
    vicreg_loss(Z, Zp).backward()
    assert torch.isfinite(Z.grad).all()
    if spread > 0:
        # The variance hinge pushes the rows apart.
        assert Z.grad.abs().sum() > 0


def test_variance_gradient_points_away_from_collapse():
    g = torch.Generator().manual_seed(3)
    Z = (1e-3 * torch.randn(32, 3, generator=g, dtype=torch.float64)).requires_grad_()
    variance_loss(Z).backward()
    with torch.no_grad():
        stepped = Z - 1e-2 * Z.grad
    assert (stepped.std(dim=0) > Z.detach().std(dim=0)).all()


def test_losses_preserve_float32():
    Z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    assert vicreg_loss(Z, Z).dtype == torch.float32
    assert cross_covariance_loss(Z, 2).dtype == torch.float32


def _inverse_sqrt(C):
    values, vectors = np.linalg.eigh(C)
    return vectors @ np.diag(values**-0.5) @ vectors.T


@pytest.mark.parametrize("regularization", [0.01, 0.1, 1.0])
def test_normalized_cross_covariance_loss_matches_numpy(regularization):
    rng = np.random.default_rng(0)
    y = rng.standard_normal((200, 1))
    F1 = np.hstack([np.cos(y), np.sin(2 * y), rng.standard_normal((200, 2))])
    F2 = np.hstack([np.cos(y) ** 2, rng.standard_normal((200, 3))])
    C = np.cov(np.hstack([F1, F2]), rowvar=False)
    C11, C22, C12 = C[:4, :4], C[4:, 4:], C[:4, 4:]
    ridged = [
        Caa + regularization * np.trace(Caa) / 4 * np.eye(4) for Caa in (C11, C22)
    ]
    expected = np.sum((_inverse_sqrt(ridged[0]) @ C12 @ _inverse_sqrt(ridged[1])) ** 2)
    got = normalized_cross_covariance_loss(
        torch.from_numpy(F1), torch.from_numpy(F2), regularization=regularization
    )
    assert_allclose(float(got), expected / 4, rtol=1e-9)


def test_normalized_cross_covariance_loss_batches_and_bounds():
    g = torch.Generator().manual_seed(0)
    F = torch.randn(3, 50, 6, generator=g, dtype=torch.float64)
    G = torch.randn(3, 50, 6, generator=g, dtype=torch.float64)
    values = normalized_cross_covariance_loss(F, G)
    assert values.shape == (3,)
    singles = [float(normalized_cross_covariance_loss(F[k], G[k])) for k in range(3)]
    assert_allclose(values.numpy(), singles, rtol=1e-12)
    same = normalized_cross_covariance_loss(F, F, regularization=1e-6)
    assert_allclose(same.numpy(), 1.0, rtol=1e-4)  # a block against itself
    assert bool(torch.all(values < same))
    with pytest.raises(ValueError, match="same shape"):
        normalized_cross_covariance_loss(F, G[:, :, :5])


@pytest.mark.parametrize("offset", [1e2, 1e3, 1e4])
def test_normalized_cross_covariance_loss_float32_offset(offset):
    # float32 features far from zero: the value of the centred float64 blocks,
    # not a cancellation (F^T F - n m m^T gave 0.0033, 0.66 and 1.3e4 here
    # against 0.0028).
    g = torch.Generator().manual_seed(0)
    F1 = torch.randn(2000, 8, generator=g)
    F2 = torch.randn(2000, 8, generator=g)
    expected = normalized_cross_covariance_loss(F1.double(), F2.double())
    got = normalized_cross_covariance_loss(F1 + offset, F2 - offset)
    assert got.dtype == torch.float32
    assert_allclose(float(got), float(expected), rtol=0.05)


# Every loss with the view that gets the bad entry: the second only where used.
VIEWS = [(name, 0) for name in sorted(LOSSES)] + [
    ("invariance", 1),
    ("vicreg", 1),
    ("barlow_twins", 1),
    ("wmse", 0),
    ("wmse", 1),
]


@pytest.mark.parametrize("name, view", VIEWS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_an_error(name, view, bad):
    Z = _rng(4).normal(size=(2, 16, 6))
    Z[view, 5, 2] = bad
    fn = wmse_loss if name == "wmse" else LOSSES[name]
    with pytest.raises(ValueError, match=r"Z(_prime)? contains NaN or infinity"):
        fn(_t(Z[0]), _t(Z[1]))


def test_non_finite_check_can_be_switched_off_and_keeps_autograd():
    Z = torch.ones(4, 3, dtype=torch.float64)
    Z[0, 0] = float("nan")
    assert torch.isnan(covariance_loss(Z, check_finite=False))
    assert torch.isnan(VICRegLoss(check_finite=False)(Z, Z))
    with pytest.raises(ValueError, match="F2 contains NaN"):
        normalized_cross_covariance_loss(torch.ones(4, 3), Z.float())
    # The check sees no gradient: a checked loss still backpropagates.
    W = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    W.requires_grad_(True)
    vicreg_loss(W, 2 * W).backward()
    assert torch.isfinite(W.grad).all() and W.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda Z: variance_loss(Z, eps=-1e-4), "eps must be a finite number >= 0"),
        (lambda Z: variance_loss(Z, eps=float("nan")), "eps must be a finite"),
        (lambda Z: variance_loss(Z, gamma=-1.0), "gamma must be a finite number"),
        (lambda Z: vicreg_loss(Z, Z, eps=-1.0), "eps must be"),
        (lambda Z: vcreg_loss(Z, eps=-1.0), "eps must be"),
        (lambda Z: VCRegLoss(eps=-1.0)(Z), "eps must be"),
        (lambda Z: vicreg_loss(Z, Z, variance_weight=-1.0), "variance_weight must"),
        (lambda Z: vcreg_loss(Z, covariance_weight=-1.0), "covariance_weight must"),
        (
            lambda Z: normalized_cross_covariance_loss(Z, Z, regularization=-0.1),
            "regularization must be a finite number >= 0",
        ),
        (lambda Z: cross_covariance_loss(Z, 1.5), "positive divisor"),
        (lambda Z: barlow_twins_loss(Z, Z, eps=-1e-5), "eps must be a finite"),
        (
            lambda Z: barlow_twins_loss(Z, Z, redundancy_weight=-1.0),
            "redundancy_weight must be a finite number >= 0",
        ),
        (
            lambda Z: BarlowTwinsLoss(redundancy_weight=float("inf"))(Z, Z),
            "redundancy_weight must be a finite",
        ),
        (lambda Z: wmse_loss(Z, Z, eps=-1e-5), "eps must be a finite number >= 0"),
        (lambda Z: WMSELoss(eps=float("nan"))(Z, Z), "eps must be a finite"),
    ],
)
def test_negative_or_non_finite_settings_are_errors(call, match):
    Z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=match):
        call(Z)


# --- Barlow Twins and W-MSE -------------------------------------------------------


def _np_barlow_twins(Z, Zp, redundancy_weight=5e-3, eps=1e-5):
    """Column-by-column standardisation (biased variance) and an explicit loop."""
    n, D = Z.shape
    A, B = np.empty_like(Z), np.empty_like(Zp)
    for j in range(D):
        A[:, j] = (Z[:, j] - Z[:, j].mean()) / np.sqrt(Z[:, j].var(ddof=0) + eps)
        B[:, j] = (Zp[:, j] - Zp[:, j].mean()) / np.sqrt(Zp[:, j].var(ddof=0) + eps)
    loss = 0.0
    for i in range(D):
        for j in range(D):
            c = sum(A[k, i] * B[k, j] for k in range(n)) / n
            loss += (1 - c) ** 2 if i == j else redundancy_weight * c**2
    return loss


def _np_wmse(Z, Zp, eps=1e-5):
    """Cholesky whitening of the stacked views, one row at a time."""
    n, D = Z.shape
    X = np.vstack([Z, Zp])
    m = X.mean(axis=0)
    S = np.cov(X, rowvar=False, ddof=1) + eps * np.eye(D)
    W = np.linalg.inv(np.linalg.cholesky(S))
    total = 0.0
    for k in range(n):
        w, wp = W @ (Z[k] - m), W @ (Zp[k] - m)
        total += np.sum((w / np.linalg.norm(w) - wp / np.linalg.norm(wp)) ** 2)
    return total / n


def _np_wmse_zca(Z, Zp, eps=1e-5):
    """The same loss with the symmetric (ZCA) whitening Sigma^-1/2: whitenings differ
    by a rotation, which the normalised distances do not see."""
    X = np.vstack([Z, Zp])
    S = np.cov(X, rowvar=False) + eps * np.eye(Z.shape[1])
    Y = (X - X.mean(axis=0)) @ _inverse_sqrt(S)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    n = Z.shape[0]
    return 2 - 2 * np.mean(np.sum(Y[:n] * Y[n:], axis=1))


def _views(n, D, seed=0, noise=0.5):
    rng = _rng(seed)
    Z = rng.normal(size=(n, D)) @ rng.normal(size=(D, D)) + rng.normal(size=D)
    return Z, Z + noise * rng.normal(size=(n, D))


@pytest.mark.parametrize("n, D", [(2, 3), (10, 3), (50, 8), (6, 20)])
@pytest.mark.parametrize("redundancy_weight, eps", [(5e-3, 1e-5), (1.0, 0.0), (0, 0.1)])
def test_barlow_twins_loss_matches_numpy(n, D, redundancy_weight, eps):
    Z, Zp = _views(n, D, seed=n + D)
    got = barlow_twins_loss(_t(Z), _t(Zp), redundancy_weight=redundancy_weight, eps=eps)
    expected = _np_barlow_twins(Z, Zp, redundancy_weight, eps)
    assert_allclose(float(got), expected, rtol=1e-9)
    module = BarlowTwinsLoss(redundancy_weight=redundancy_weight, eps=eps)
    assert_allclose(float(module(_t(Z), _t(Zp))), expected, rtol=1e-9)


def test_barlow_twins_identical_decorrelated_views_give_zero():
    rng = _rng(1)
    n, D = 64, 5
    centred = rng.normal(size=(n, D))
    centred -= centred.mean(axis=0)
    Q = np.linalg.qr(centred)[0]  # orthonormal columns, still centred
    Z = np.sqrt(n) * Q * np.array([0.5, 1.0, 2.0, 3.0, 10.0]) + 7.0
    assert float(barlow_twins_loss(_t(Z), _t(Z), eps=0.0)) < 1e-20
    # eps only shrinks C_ii to Var / (Var + eps).
    expected = sum((1e-5 / (s**2 + 1e-5)) ** 2 for s in [0.5, 1.0, 2.0, 3.0, 10.0])
    assert_allclose(float(barlow_twins_loss(_t(Z), _t(Z))), expected, rtol=1e-6)
    # Correlated columns in identical views: only the redundancy term remains.
    Zc = Z.copy()
    Zc[:, 1] += Zc[:, 0]
    assert float(barlow_twins_loss(_t(Zc), _t(Zc))) > 1e-3


def test_barlow_twins_opposite_views_are_the_worst_diagonal():
    Z, _ = _views(200, 4, seed=2)
    C = np.corrcoef(Z, rowvar=False)
    off = np.sum(C**2) - 4
    expected = 4 * 2.0**2 + 5e-3 * off
    got = barlow_twins_loss(_t(Z), _t(-Z), eps=0.0)
    assert_allclose(float(got), expected, rtol=1e-9)


def test_barlow_twins_invariant_to_positive_affine_map_of_columns():
    Z, Zp = _views(80, 6, seed=3)
    rng = _rng(4)
    scale, shift = rng.uniform(0.2, 5.0, size=6), rng.normal(size=6) * 10
    base = float(barlow_twins_loss(_t(Z), _t(Zp), eps=0.0))
    mapped = float(barlow_twins_loss(_t(Z), _t(scale * Zp + shift), eps=0.0))
    assert_allclose(mapped, base, rtol=1e-10)
    both = float(barlow_twins_loss(_t(scale * Z - shift), _t(Zp), eps=0.0))
    assert_allclose(both, base, rtol=1e-10)
    # With the default eps the invariance holds up to eps / Var.
    default = float(barlow_twins_loss(_t(Z), _t(Zp)))
    mapped = float(barlow_twins_loss(_t(Z), _t(scale * Zp + shift)))
    assert_allclose(mapped, default, rtol=1e-4)
    # A sign flip is not a positive rescaling: the diagonal term changes.
    flipped = float(barlow_twins_loss(_t(Z), _t(-Zp), eps=0.0))
    assert flipped > base + 1.0


@pytest.mark.parametrize("n, D", [(3, 5), (10, 3), (50, 8), (40, 40)])
@pytest.mark.parametrize("eps", [1e-5, 1e-2, 0.0])
def test_wmse_loss_matches_numpy(n, D, eps):
    Z, Zp = _views(n, D, seed=n * D)
    got = wmse_loss(_t(Z), _t(Zp), eps=eps)
    rtol = 1e-9 if eps > 0 or n > D else 1e-6  # eps = 0, 2n - 1 = D is ill-conditioned
    assert_allclose(float(got), _np_wmse(Z, Zp, eps), rtol=rtol)
    assert_allclose(float(got), _np_wmse_zca(Z, Zp, eps), rtol=rtol)
    assert_allclose(float(WMSELoss(eps=eps)(_t(Z), _t(Zp))), float(got), rtol=1e-12)


def test_wmse_known_values():
    rng = _rng(5)
    Z = rng.normal(size=(4000, 8)) * np.arange(1, 9)
    assert float(wmse_loss(_t(Z), _t(Z))) == pytest.approx(0.0, abs=1e-12)
    Zp = rng.normal(size=(4000, 8))
    # Independent views: whitened directions are unrelated, E cos = 0 and the
    # standard deviation of the mean cosine is about 1 / sqrt(D n) = 0.006.
    assert float(wmse_loss(_t(Z), _t(Zp))) == pytest.approx(2.0, abs=0.04)
    # Opposite views (after the joint centring): cos = -1 for every pair.
    assert float(wmse_loss(_t(Z), _t(-Z))) == pytest.approx(4.0, abs=1e-9)


def test_wmse_invariant_to_invertible_linear_map_of_both_views():
    Z, Zp = _views(60, 5, seed=6)
    rng = _rng(7)
    A = rng.normal(size=(5, 5)) + 3 * np.eye(5)
    b = rng.normal(size=5)
    base = float(wmse_loss(_t(Z), _t(Zp), eps=0.0))
    mapped = float(wmse_loss(_t(Z @ A + b), _t(Zp @ A + b), eps=0.0))
    assert_allclose(mapped, base, rtol=1e-9)
    default = float(wmse_loss(_t(Z @ A + b), _t(Zp @ A + b)))
    assert_allclose(default, base, rtol=1e-4)
    # Mapping one view only is not an invariance.
    one = float(wmse_loss(_t(Z @ A), _t(Zp), eps=0.0))
    assert abs(one - base) > 0.1


def test_wmse_whitens_the_two_views_jointly():
    """Whitening each view with its own statistics would map Z and 10 Z + 5 to the
    same rows (loss 0); the joint whitening keeps the views' different means and
    scales, which the loss then sees."""
    Z, _ = _views(100, 3, seed=8)
    got = float(wmse_loss(_t(Z), _t(10 * Z + 5)))
    assert_allclose(got, _np_wmse(Z, 10 * Z + 5), rtol=1e-9)
    assert got > 0.5


def test_wmse_leading_dimensions_and_float32():
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(2, 3, 20, 4, generator=g, dtype=torch.float64)
    Zp = Z + 0.3 * torch.randn(2, 3, 20, 4, generator=g, dtype=torch.float64)
    out = wmse_loss(Z, Zp)
    assert out.shape == (2, 3)
    each = [
        float(wmse_loss(a, b))
        for a, b in zip(Z.reshape(-1, 20, 4), Zp.reshape(-1, 20, 4), strict=True)
    ]
    assert_allclose(out.reshape(-1).numpy(), each, rtol=1e-10)
    assert wmse_loss(Z.float(), Zp.float()).dtype == torch.float32
    assert barlow_twins_loss(Z.float(), Zp.float()).dtype == torch.float32


def test_wmse_short_batch_uses_its_own_size():
    rows, other = _views(10, 4, seed=9)
    assert_allclose(
        float(wmse_loss(_t(rows[:3]), _t(other[:3]))),
        _np_wmse(rows[:3], other[:3]),
        rtol=1e-9,
    )


@pytest.mark.parametrize("name", ["barlow", "wmse"])
def test_two_view_losses_gradcheck(name):
    fn = {"barlow": barlow_twins_loss, "wmse": wmse_loss}[name]
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    Zp = Z.detach() + 0.5 * torch.randn(6, 3, generator=g, dtype=torch.float64)
    Zp.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: fn(a, b), (Z, Zp))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spread", [0.0, 1e-6, 1e-2])
@pytest.mark.parametrize("name", ["barlow", "wmse"])
def test_two_view_gradients_finite_near_collapse(name, dtype, spread):
    fn = {"barlow": barlow_twins_loss, "wmse": wmse_loss}[name]
    g = torch.Generator().manual_seed(1)
    base = torch.randn(1, 4, generator=g, dtype=dtype)
    Z = base + spread * torch.randn(32, 4, generator=g, dtype=dtype)
    Z.requires_grad_(True)
    Zp = Z.detach() + spread * torch.randn(32, 4, generator=g, dtype=dtype)
    loss = fn(Z, Zp)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(Z.grad).all()


def test_two_view_gradient_step_lowers_the_loss():
    g = torch.Generator().manual_seed(2)
    for fn in (barlow_twins_loss, wmse_loss):
        Z = torch.randn(64, 4, generator=g, dtype=torch.float64)
        Zp = (Z + torch.randn(64, 4, generator=g, dtype=torch.float64)).requires_grad_()
        before = fn(Z, Zp)
        before.backward()
        with torch.no_grad():
            after = fn(Z, Zp - 1e-3 * Zp.grad / Zp.grad.norm())
        assert float(after) < float(before.detach())


@pytest.mark.parametrize("fn", [barlow_twins_loss, wmse_loss])
def test_two_view_bad_shapes(fn):
    with pytest.raises(ValueError, match="same shape"):
        fn(torch.zeros(8, 3), torch.zeros(8, 2))
    with pytest.raises(ValueError, match="at least two dimensions"):
        fn(torch.zeros(8), torch.zeros(8))
    with pytest.raises(ValueError, match="at least 2 rows"):
        fn(torch.zeros(1, 3), torch.zeros(1, 3))


def test_wmse_batch_too_small_for_the_width():
    Z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"2n > D; got n = 4 rows and D = 8"):
        wmse_loss(Z, Z)
    wmse_loss(Z[:, :7], Z[:, :7])  # 2n = 8 > 7 is enough


def test_degenerate_columns_with_zero_eps_are_errors():
    Z = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)).double()
    constant = Z.clone()
    constant[:, 1] = 2.0
    with pytest.raises(ValueError, match="Z_prime has a constant column.*eps > 0"):
        barlow_twins_loss(Z, constant, eps=0.0)
    assert torch.isfinite(barlow_twins_loss(Z, constant))  # default eps is fine
    with pytest.raises(ValueError, match="not positive definite.*larger eps"):
        wmse_loss(constant, constant.flip(0), eps=0.0)
    dependent = torch.cat([Z, Z[:, :1]], dim=1)
    assert 0 <= float(wmse_loss(dependent, dependent + 0.1)) <= 4


_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(2, 12), st.integers(1, 5)), elements=_finite
    ),
    st.floats(0.0, 10.0),
    st.integers(0, 2**16),
)
@example(  # nearly collinear columns: the covariance's condition number is ~1e6
    np.array([[0.0, -241.03, 0.0], [579.0, 579.0, 579.0], [579.0, 579.0, 579.0]]),
    0.0,
    0,
)
def test_two_view_losses_bounds_and_symmetry(Z, redundancy_weight, seed):
    Zp = Z + _rng(seed).normal(size=Z.shape)
    bt = float(barlow_twins_loss(_t(Z), _t(Zp), redundancy_weight=redundancy_weight))
    assert bt >= 0
    swapped = barlow_twins_loss(_t(Zp), _t(Z), redundancy_weight=redundancy_weight)
    # C of the swapped views is C^T: the same products, but the matrix product
    # may sum them in another order (its blocking follows the operands'
    # layout, and differs between releases), and (1 - C_ii)^2 cancels where
    # C_ii is near one: a numpy floor's example differed by 1.3e-9 relative.
    assert_allclose(float(swapped), bt, rtol=1e-7, atol=1e-12)
    if 2 * Z.shape[0] > Z.shape[1]:
        w = float(wmse_loss(_t(Z), _t(Zp)))
        assert -1e-12 <= w <= 4 + 1e-9
        # Exactly symmetric, not only to rounding: the joint mean and scatter are
        # sums of the two views' (a + b == b + a in floating point), and each
        # view is whitened on its own. Stacking the views instead summed them in
        # another order once swapped, and the whitening amplifies that rounding
        # by the covariance's condition number (1e-9 relative on the example).
        assert float(wmse_loss(_t(Zp), _t(Z))) == w


# ------------------------------------------------- dtypes, empty and extreme input

# Every public loss, each with its second input where it has one.
EVERY_LOSS = {
    **LOSSES,
    "wmse": wmse_loss,
    "normalized_cross_covariance": normalized_cross_covariance_loss,
}


@pytest.mark.parametrize("name", sorted(EVERY_LOSS))
@pytest.mark.parametrize("view", [0, 1])
@pytest.mark.parametrize(
    "dtype", [torch.int64, torch.int32, torch.bool, torch.complex128]
)
def test_non_float_input_is_an_error(name, view, dtype):
    Z = torch.randn(16, 6, generator=torch.Generator().manual_seed(0))
    views = [Z, Z + 1.0]
    views[view] = (10 * views[view]).to(dtype)
    label = ("F1", "F2") if name == "normalized_cross_covariance" else ("Z", "Z_prime")
    if view == 1 and name in {"variance", "covariance", "cross_covariance", "vcreg"}:
        return  # a one-view loss never reads the second input
    with pytest.raises(
        ValueError, match=f"{label[view]} must be a real floating-point"
    ):
        EVERY_LOSS[name](*views)


@pytest.mark.parametrize("name", sorted(EVERY_LOSS))
@pytest.mark.parametrize("shape", [(32, 0), (3, 32, 0)])
def test_batch_without_columns_is_an_error(name, shape):
    # Before: NaN from the mean of no columns, without a word.
    Z = torch.zeros(shape)
    with pytest.raises(ValueError, match=r"has no columns \(shape"):
        EVERY_LOSS[name](Z, Z)


@pytest.mark.parametrize("name", sorted(EVERY_LOSS))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_input_is_computed_in_float32(name, dtype):
    """float16 embeddings of scale 100 are finite, but their covariances' squares
    (about 1e8) are not: the loss is computed, and returned, in float32, equal
    to the loss of the same values given in float32."""
    g = torch.Generator().manual_seed(5)
    Z = (100 * torch.randn(64, 6, generator=g)).to(dtype)
    Zp = (Z.float() + 30 * torch.randn(64, 6, generator=g)).to(dtype)
    got = EVERY_LOSS[name](Z, Zp)
    assert got.dtype == torch.float32
    assert torch.isfinite(got)
    assert torch.equal(got, EVERY_LOSS[name](Z.float(), Zp.float()))
    if name in NUMPY_LOSSES:
        Zn, Zpn = Z.double().numpy(), Zp.double().numpy()
        # float32 sums of 64 rows, against float64: a few units of 1e-7 relative.
        assert_allclose(float(got), NUMPY_LOSSES[name](Zn, Zpn), rtol=1e-5)


def test_low_precision_gradient_reaches_the_input_in_its_dtype():
    Z = (100 * torch.randn(64, 6, generator=torch.Generator().manual_seed(0))).half()
    Z.requires_grad_()
    vicreg_loss(Z, Z.flip(0)).backward()
    assert Z.grad.dtype == torch.float16
    assert torch.isfinite(Z.grad).all()


def _pair(dtype=torch.float64, seed=6, shape=(24, 6)):
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(*shape, generator=g, dtype=dtype)
    return Z, Z + 0.5 * torch.randn(*shape, generator=g, dtype=dtype)


HOMOGENEOUS = sorted(set(EVERY_LOSS) - {"variance", "vcreg", "vicreg"})


@pytest.mark.parametrize(
    "dtype, k",
    [(torch.float32, k) for k in (-20, -1, 1, 20)]
    + [(torch.float64, k) for k in (-200, -1, 1, 200)],
)
@pytest.mark.parametrize(
    "name", sorted(set(EVERY_LOSS) - {"variance", "vcreg", "vicreg"})
)
def test_scaling_by_a_power_of_two_is_exact(name, dtype, k):
    """Each loss is homogeneous in the scale of the embeddings (of degree 4, 2,
    or 0 for the standardised and whitened ones when eps = 0; the variance hinge
    is not, its gamma and eps being absolute) and is computed at a scale of
    order 1 then scaled back by a power of two: within range, scaling the input
    by 2**k scales the loss by the same power of 2**k to the last bit, not only
    to rounding."""
    Z, Zp = _pair(dtype)
    power = {"covariance": 4, "cross_covariance": 4, "invariance": 2}.get(name, 0)
    kwargs = {"eps": 0.0} if name in {"barlow_twins", "wmse"} else {}
    base = EVERY_LOSS[name](Z, Zp, **kwargs)
    scaled = EVERY_LOSS[name](Z * 2.0**k, Zp * 2.0**k, **kwargs)
    if name == "normalized_cross_covariance":
        # Its ridge has an absolute floor of 1e-12 (n - 1), which breaks the
        # homogeneity: negligible (below rounding) for columns of scale 1 and
        # above, dominant for columns of scale 1e-6 and below.
        if k >= -1:
            rtol = 1e-6 if dtype == torch.float32 else 1e-10
            assert_allclose(float(scaled), float(base), rtol=rtol)
    else:
        assert torch.equal(scaled, base * (2.0**k) ** power)


@pytest.mark.parametrize("name", ["covariance", "vcreg", "vicreg", "invariance"])
def test_loss_beyond_the_range_is_an_error_never_nan(name):
    """Before: float64 embeddings of scale 1e160 gave NaN (inf - inf), although
    they passed the finiteness check. The covariance term is then about 1e640:
    with check_finite it is an error naming the range, without it inf."""
    Z, Zp = _pair()
    big, big_prime = 1e160 * Z, 1e160 * Zp
    with pytest.raises(ValueError, match="exceeds the range of torch.float64"):
        EVERY_LOSS[name](big, big_prime)
    fn = {
        "covariance": covariance_loss,
        "vcreg": vcreg_loss,
        "invariance": invariance_loss,
        "vicreg": vicreg_loss,
    }[name]
    args = (big, big_prime) if name in {"invariance", "vicreg"} else (big,)
    assert float(fn(*args, check_finite=False)) == np.inf


def test_zero_weight_of_an_overflowing_term_is_not_nan():
    Z, Zp = _pair()
    loss = vicreg_loss(1e160 * Z, 1e160 * Zp, invariance_weight=0, covariance_weight=0)
    assert float(loss) == 0.0  # the variance hinge of huge columns is 0
    assert float(vcreg_loss(1e160 * Z, covariance_weight=0)) == 0.0


@pytest.mark.parametrize("scale", [1e160, 1e-170])
def test_scale_free_losses_at_extreme_scales(scale):
    """Barlow Twins and W-MSE standardise or whiten: at 1e160 the variances
    overflowed (Barlow Twins returned the loss of zero embeddings, W-MSE called
    the covariance not positive definite), and the normalised cross-covariance
    was NaN. Now they are the loss at scale 1 (eps=0; with the default eps,
    tiny embeddings are dominated by it, as intended)."""
    Z, Zp = _pair()
    assert_allclose(
        float(barlow_twins_loss(scale * Z, scale * Zp, eps=0.0)),
        float(barlow_twins_loss(Z, Zp, eps=0.0)),
        rtol=1e-12,
    )
    assert_allclose(
        float(wmse_loss(scale * Z, scale * Zp, eps=0.0)),
        float(wmse_loss(Z, Zp, eps=0.0)),
        rtol=1e-12,
    )
    F1, F2 = Z[:, :2], Zp[:, 2:4]
    nocco = normalized_cross_covariance_loss(scale * F1, scale * F2)
    if scale > 1:  # the ridge's absolute floor is negligible both ways
        assert_allclose(
            float(nocco), float(normalized_cross_covariance_loss(F1, F2)), rtol=1e-9
        )
    else:  # ... and dominates values of 1e-170: independent-looking, as before
        assert 0 <= float(nocco) < 1e-12


@pytest.mark.parametrize("name", ["variance", "barlow_twins", "wmse"])
def test_gradient_is_finite_at_extreme_scales(name):
    Z, Zp = _pair()
    Z = (1e160 * Z).requires_grad_()
    fn = variance_loss if name == "variance" else EVERY_LOSS[name]
    loss = fn(Z) if name == "variance" else fn(Z, 1e160 * Zp)
    loss.backward()
    assert torch.isfinite(Z.grad).all()


@pytest.mark.parametrize("name", ["barlow_twins", "wmse", "covariance"])
def test_each_leading_index_gets_its_own_scale(name):
    """A stack of batches of very different scales (one at 1e160, one at 1):
    each is computed at its own scale, as if alone."""
    Z, Zp = _pair()
    stack = torch.stack([1e160 * Z, Z]), torch.stack([1e160 * Zp, Zp])
    kwargs = {} if name == "covariance" else {"eps": 0.0}
    fn = EVERY_LOSS[name]
    if name == "covariance":  # 1e640 is beyond float64: inf, never NaN
        got = covariance_loss(stack[0], check_finite=False)
        assert float(got[0]) == np.inf
        assert float(got[1]) == float(covariance_loss(Z))
        return
    got = fn(*stack, **kwargs)
    assert_allclose(got.numpy(), [float(fn(Z, Zp, **kwargs))] * 2, rtol=1e-12)
