import numpy as np
import pytest
from numpy.testing import assert_allclose

from skvcreg.datasets import (
    DENSITIES,
    cramer_rao_bound,
    fisher_information,
    make_ica_mixture,
    make_sources,
)


@pytest.mark.parametrize("density", sorted(DENSITIES))
def test_make_sources_standardised(density):
    # 200k samples: the sample mean and variance are within ~0.03 of 0 and 1
    # for every density (t3 has the slowest variance convergence).
    S = make_sources(density, 200_000, random_state=0)
    assert S.shape == (200_000, 1)
    assert abs(S.mean()) < 0.02
    assert S.var() == pytest.approx(1.0, abs=0.06)


def test_make_sources_skewed_and_multimodal():
    # (j) is a 1:3 mixture of two narrow Gaussians: skewed and bimodal.
    s = make_sources("j", 100_000, random_state=0)[:, 0]
    skewness = np.mean(s**3)
    assert skewness < -0.5
    hist, _ = np.histogram(s, bins=20)
    assert hist[9:12].sum() < hist.max()  # a dip between the modes


def test_make_sources_reproducible_and_columns():
    a = make_sources(["a", "q", "uniform"], 50, random_state=3)
    b = make_sources(["a", "q", "uniform"], 50, random_state=3)
    assert a.shape == (50, 3)
    assert_allclose(a, b)
    assert make_sources(4, 10, random_state=0).shape == (10, 4)


@pytest.mark.parametrize(
    "densities, match",
    [(["z"], "Unknown densities"), ([], "Unknown densities"), (0, "must be >= 1")],
)
def test_make_sources_bad_densities(densities, match):
    with pytest.raises(ValueError, match=match):
        make_sources(densities, 10)


def test_make_sources_bad_n_samples():
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        make_sources("a", 0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_sources(["c"], 2.7), "n_samples must be an integer, got 2.7"),
        (lambda: make_sources(["c"], 5.0), "n_samples must be an integer, got 5.0"),
        (lambda: make_sources(["c"], "5"), "n_samples must be an integer, got '5'"),
        (lambda: make_sources(["c"], True), "n_samples must be an integer, got True"),
        (lambda: make_sources(True), "densities must be a density name"),
        (lambda: make_sources(np.bool_(True)), "densities must be a density name"),
        (lambda: make_sources(2.0), "densities must be a density name"),
        (lambda: make_sources(None), "densities must be a density name"),
        (lambda: make_ica_mixture(2, 2.7), "n_samples must be an integer"),
        (lambda: make_ica_mixture(2, 10, n_features=2.5), "n_features must be an"),
        (lambda: make_ica_mixture(2, 10, n_features="3"), "n_features must be an"),
    ],
)
def test_non_integer_counts_are_refused_not_truncated(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_numpy_integers_are_counts():
    S = make_sources(np.int64(2), np.int32(7), random_state=0)
    assert S.shape == (7, 2)
    X, _, _ = make_ica_mixture(2, 7, n_features=np.int64(3), random_state=0)
    assert X.shape == (7, 3)


def test_make_ica_mixture_bach_jordan_conditioning():
    X, S, A = make_ica_mixture(["j", "q"], 500, random_state=0)
    assert_allclose(X, S @ A.T)
    singular = np.linalg.svd(A, compute_uv=False)
    assert singular.min() == pytest.approx(1.0)
    assert 1.0 <= singular.max() <= 2.0


@pytest.mark.parametrize("mixing", ["bach-jordan", "normal", "orthogonal"])
def test_make_ica_mixture_shapes(mixing):
    X, S, A = make_ica_mixture(3, 100, n_features=5, mixing=mixing, random_state=0)
    assert X.shape == (100, 5) and S.shape == (100, 3) and A.shape == (5, 3)
    assert np.linalg.matrix_rank(A) == 3
    if mixing == "orthogonal":
        assert_allclose(A.T @ A, np.eye(3), atol=1e-12)


def test_make_ica_mixture_errors():
    with pytest.raises(ValueError, match="smaller than the number of sources"):
        make_ica_mixture(3, 10, n_features=2)
    with pytest.raises(ValueError, match="mixing must be"):
        make_ica_mixture(2, 10, mixing="bad")


def test_fisher_information_closed_forms_and_limits():
    # Closed forms at unit variance: Gaussian 1, Laplace 2, Student t with nu
    # degrees of freedom (nu + 1) / (nu + 3) / scale^2, scale^2 = (nu - 2) / nu.
    assert fisher_information("gaussian") == pytest.approx(1.0, rel=1e-6)
    assert fisher_information("laplace") == pytest.approx(2.0, rel=1e-4)
    assert fisher_information("a") == pytest.approx(4 / 6 * 3, rel=1e-4)
    assert fisher_information("d") == pytest.approx(6 / 8 * 5 / 3, rel=1e-4)
    assert fisher_information("uniform") == np.inf
    assert fisher_information("e") == np.inf
    # Any other density is more informative than the Gaussian.
    values = [fisher_information(d) for d in "abdfghijklmnopqr"]
    assert min(values) > 1.0


def test_fisher_information_of_a_mixture_matches_its_score_on_samples():
    # E[phi(s)^2] by Monte Carlo, with the score of the two-Gaussian mixture (k)
    # written out, against the numerical integral.
    weights, means, stds = np.array([1, 2]) / 3, np.array([-0.7, 0.5]), 0.4
    mean = weights @ means
    scale = np.sqrt(weights @ (stds**2 + means**2) - mean**2)
    s = make_sources("k", 200_000, random_state=0)[:, 0]
    x = s * scale + mean
    parts = weights * np.exp(-((x[:, None] - means) ** 2) / (2 * stds**2))
    phi_x = (parts * (x[:, None] - means)).sum(axis=1) / stds**2 / parts.sum(axis=1)
    phi = scale * phi_x  # the score of s = (x - mean) / scale
    assert fisher_information("k") == pytest.approx(np.mean(phi**2), rel=0.02)


def test_fisher_information_rejects_unknown_densities():
    with pytest.raises(ValueError, match="Unknown density 'z'"):
        fisher_information("z")
    with pytest.raises(ValueError, match="Unknown density 3"):
        fisher_information(3)


def test_cramer_rao_bound_against_the_inverse_of_the_pair_information():
    # var(G_ij) is the (0, 0) entry of [[J_i, 1], [1, J_j]]^-1 / N.
    J = np.array([2.0, 1.1, 5.0])
    bound = cramer_rao_bound(J, 1000)
    for i in range(3):
        for j in range(3):
            if i != j:
                pair = np.linalg.inv([[J[i], 1.0], [1.0, J[j]]]) / 1000
                assert_allclose(bound[i, j], pair[0, 0], rtol=1e-12)
    assert_allclose(np.diag(bound), 0.0)


def test_cramer_rao_bound_limits():
    # An infinite J_j: 1 / (N J_i) in row i, 0 in row j; two Gaussians: inf.
    bound = cramer_rao_bound([2.0, np.inf, 1.0, 1.0], 100)
    assert_allclose(bound[0, 1], 1 / 200)
    assert bound[1, 0] == 0.0
    assert np.isinf(bound[2, 3]) and np.isinf(bound[3, 2])
    with pytest.raises(ValueError, match="fisher_information must be"):
        cramer_rao_bound([0.5, np.nan], 100)
