import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from skvcreg.projectors import SeparableRandomProjector


def _biased_hsic(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


@pytest.mark.parametrize("kind", ["fourier", "relu"])
@pytest.mark.parametrize("widths", [(8,), (16, 8)])
def test_projector_lemma(kind, widths):
    # The (i, j) block of Cov(psi(Y)) has squared Frobenius norm equal to the
    # biased HSIC of y_i and y_j with kernel k(a, b) = psi(a)^T psi(b).
    g = torch.Generator().manual_seed(0)
    projector = SeparableRandomProjector(widths, kind=kind, generator=g)
    Y = torch.randn(40, 3, dtype=torch.float64, generator=g)
    Y[:, 2] = Y[:, 0] ** 2 + 0.1 * Y[:, 2]
    Q = projector(Y).numpy()
    L = projector.out_width
    assert Q.shape == (40, 3 * L)
    C = np.cov(Q, rowvar=False)
    for i in range(3):
        for j in range(3):
            block = C[i * L : (i + 1) * L, j * L : (j + 1) * L]
            Pi, Pj = Q[:, i * L : (i + 1) * L], Q[:, j * L : (j + 1) * L]
            expected = _biased_hsic(Pi @ Pi.T, Pj @ Pj.T)
            assert_allclose(np.sum(block**2), expected, rtol=1e-10, atol=1e-14)


def test_projector_blocks_apply_one_map():
    g = torch.Generator().manual_seed(1)
    projector = SeparableRandomProjector((5,), generator=g)
    t = torch.linspace(-2, 2, 7, dtype=torch.float64)
    Q = projector(torch.stack([t, t], dim=1))
    assert_allclose(Q[:, :5].numpy(), Q[:, 5:].numpy())
    assert_allclose(Q[:, :5].numpy(), projector.feature_map(t).numpy())


def test_fourier_features_approximate_gaussian_kernel():
    # 20000 random Fourier features: the kernel error is O(1/sqrt(L)) ~ 0.01.
    g = torch.Generator().manual_seed(0)
    projector = SeparableRandomProjector((20000,), bandwidths=0.7, generator=g)
    t = torch.linspace(-2, 2, 9, dtype=torch.float64)
    features = projector.feature_map(t).numpy()
    approx = features @ features.T
    exact = np.exp(-((t[:, None] - t[None, :]).numpy() ** 2) / (2 * 0.7**2))
    assert_allclose(approx, exact, atol=0.04)


def test_projector_is_frozen_and_seeded():
    make = lambda: SeparableRandomProjector(  # noqa: E731
        (6, 4), kind="relu", generator=torch.Generator().manual_seed(3)
    )
    a, b = make(), make()
    assert not any(p.requires_grad for p in a.parameters())
    y = torch.randn(10, 2, dtype=torch.float64)
    assert_allclose(a(y).numpy(), b(y).numpy())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"widths": ()}, r"widths must be a non-empty sequence .* got \(\)"),
        ({"widths": (0,)}, "widths must be a non-empty sequence of positive"),
        ({"widths": (8.7,)}, r"positive integers, got \(8.7,\)"),
        ({"widths": (True,)}, "positive integers"),
        ({"kind": "tanh"}, "kind must be"),
        ({"bandwidths": (1.0, -1.0)}, "bandwidths must be a positive finite"),
        ({"bandwidths": ()}, r"non-empty tuple of them, got \(\)"),
        ({"bandwidths": float("inf")}, "bandwidths must be a positive finite"),
        ({"bandwidths": float("nan")}, "bandwidths must be a positive finite"),
    ],
)
def test_projector_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SeparableRandomProjector(**kwargs)


@pytest.mark.parametrize("bandwidth", [1e-300, 1e-32, 1e31, 1e300])
def test_projector_bandwidth_beyond_the_dtype_names_the_range(bandwidth):
    # Cast to float32 first, 1e-300 became 0 and 1e300 infinity, and both were
    # refused as not "positive finite": the real problem is float32's range.
    with pytest.raises(
        ValueError,
        match=r"bandwidths must lie between 1\.5e-31 and 6\.7e\+30 for dtype "
        r"torch\.float32, got .*overflow or vanish.*Use dtype=torch\.float64",
    ):
        SeparableRandomProjector(bandwidths=(1.0, bandwidth), dtype=torch.float32)


@pytest.mark.parametrize("bandwidth", [1e-30, 1e30])
def test_projector_bandwidth_at_the_float32_bounds_of_vcregica(bandwidth):
    # VCRegICA accepts 1e-30 .. 1e30 and builds its projector in float32: the
    # weights and the features stay finite on white inputs.
    g = torch.Generator().manual_seed(0)
    projector = SeparableRandomProjector(
        (16,), kind="relu", bandwidths=bandwidth, generator=g, dtype=torch.float32
    )
    y = torch.randn(200, 3, generator=g) * 10
    assert torch.isfinite(projector.weight).all()
    assert torch.isfinite(projector(y)).all()


def test_projector_bandwidth_in_float64_is_checked_against_float64():
    projector = SeparableRandomProjector(bandwidths=1e-200, dtype=torch.float64)
    assert torch.isfinite(projector.weight).all()
    with pytest.raises(ValueError, match=r"for dtype torch\.float64.*Rescale the"):
        SeparableRandomProjector(bandwidths=1e-300, dtype=torch.float64)
