import numpy as np
import pytest
import torch
from _ica_reference import cramer_rao_amari
from numpy.testing import assert_allclose

from skvcreg._ica import _refine
from skvcreg._ica._refine import (
    _extrapolation,
    _newton_step,
    _sampling_error,
    _scale_and_correlation,
    _score_covariance,
    refine_unmixing,
)
from skvcreg._scores import (
    Knots,
    _basis_moments,
    _bucket_sums,
    _buckets,
    _coordinate,
    _fit_scores,
    _knots,
    _scores,
    score_fit_rules,
)
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import amari_distance


def _ramp_basis(Y, knots):
    """``[y, max(0, y - k_1), ..., max(0, y - k_K), 1]`` of each row of ``Y``
    (m, n), written out: shape (m, n, K + 2)."""
    y = Y[:, :, None]
    ramps = (y - knots.values[:, None, :]).clamp(min=0)
    return torch.cat((y, ramps, torch.ones_like(y)), dim=-1)


def _skewed(seed=0, n=1003, m=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(m, n, dtype=torch.float64, generator=g) ** 3).contiguous()


def test_buckets_count_the_knots_below_each_value():
    Y = _skewed()
    knots = _knots(Y, 20)
    expected = (Y[:, :, None] > knots.values[:, None, :]).sum(dim=-1)
    assert torch.equal(_buckets(Y, knots), expected)
    # From the 0.05% to the 99.95% quantile of each row, evenly spaced in
    # y / (c + |y|), c the interquartile range over 1.349.
    q = np.quantile(Y.numpy(), [0.0005, 0.25, 0.75, 0.9995], axis=1)
    assert_allclose(knots.values[:, [0, -1]].numpy(), q[[0, -1]].T, rtol=1e-10)
    c = (q[2] - q[1]) / 1.349
    y = knots.values.numpy()
    steps = np.diff(y / (c[:, None] + np.abs(y)), axis=1)
    assert_allclose(steps, steps[:, :1] * np.ones_like(steps), rtol=1e-9)
    # Ever wider apart in the tails: the outer intervals are wider than the inner.
    widths = knots.values.diff(dim=1)
    assert (widths[:, 0] > 3 * widths[:, 9]).all()


def test_buckets_of_a_mostly_constant_row():
    # Three quarters of the values equal: the interquartile range is zero and
    # the knots' range sets the scale instead; every value gets its interval.
    Y = torch.zeros(1, 1000, dtype=torch.float64)
    Y[0, 750:] = torch.linspace(1.0, 3.0, 250, dtype=torch.float64)
    knots = _knots(Y, 20)
    assert torch.isfinite(knots.values).all() and (knots.scale > 0).all()
    expected = (Y[:, :, None] > knots.values[:, None, :]).sum(dim=-1)
    assert torch.equal(_buckets(Y, knots), expected)


def test_basis_moments_from_interval_sums_match_the_explicit_basis():
    # The Gram matrix of [y, ramps, 1] and the mean derivatives, from sums of
    # 1, y, y^2 in each knot interval, against the basis computed row by row.
    Y = _skewed()
    knots = _knots(Y, 20)
    sums = _bucket_sums(Y, _buckets(Y, knots), 21)
    gram, target = _basis_moments(sums, knots)
    basis = _ramp_basis(Y, knots)
    assert_allclose(gram, basis.mT @ basis / Y.shape[1], rtol=1e-10, atol=1e-12)
    slopes = torch.ones_like(basis)
    slopes[:, :, 1:-1] = (basis[:, :, 1:-1] > 0).double()
    slopes[:, :, -1] = 0.0
    assert_allclose(target, slopes.mean(dim=1), atol=1e-14)


def test_newton_step_solves_each_pair_block_with_clipped_eigenvalues():
    # For each pair i < j: [[k_i, 1], [1, k_j]] (E_ij, E_ji) = (G_ij, G_ji),
    # the block's eigenvalues clipped below, written out with numpy's eigh.
    # Curvatures near zero and negative make some blocks indefinite.
    rng = np.random.default_rng(0)
    m, floor = 6, 0.05
    G = rng.normal(size=(m, m))
    curvature = np.array([2.0, 1.3, 0.9, 0.2, -0.5, 1.0])
    expected = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            values, vectors = np.linalg.eigh([[curvature[i], 1.0], [1.0, curvature[j]]])
            inverse = vectors @ np.diag(1 / np.maximum(values, floor)) @ vectors.T
            expected[i, j], expected[j, i] = inverse @ [G[i, j], G[j, i]]
    E = _newton_step(torch.as_tensor(G), torch.as_tensor(curvature), floor)
    assert_allclose(E.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_sampling_error_is_the_cramer_rao_standard_error_of_each_entry():
    # sqrt(k_j / ((k_i k_j - 1) n)) written out; pairs with k_i k_j <= 1
    # (two Gaussians, or a curvature estimated below one) are not identifiable.
    curvature = np.array([3.0, 1.5, 1.05, 1.0, 0.4])
    n = 5000
    expected = np.full((5, 5), np.inf)
    for i in range(5):
        for j in range(5):
            det = curvature[i] * curvature[j] - 1
            if det > 0:
                expected[i, j] = np.sqrt(curvature[j] / (det * n))
    got = _sampling_error(torch.as_tensor(curvature), n).numpy()
    assert_allclose(got, expected, rtol=1e-12)


def _laplace_error(M, K, A, columns):
    """Summed off-diagonal share of the rows of ``M K A`` that pick the sources
    in ``columns``."""
    P = np.abs(M.numpy() @ K @ A)
    P /= P.max(axis=1, keepdims=True)
    return sum(P[np.argmax(P[:, c])].sum() - 1 for c in columns)


def test_steps_between_gaussian_components_stop_at_their_sampling_error():
    # Any rotation of the three Gaussian sources solves the equations: their
    # steps follow the scores' noise and stay above a tight tol for many steps
    # (or all of them), while each is far below its (infinite) sampling error.
    # With the sampling rule the refinement stops in half the steps or fewer,
    # having separated the two Laplace sources as well.
    densities = ["laplace"] * 2 + ["gaussian"] * 3
    X, _, A = make_ica_mixture(densities, 20000, random_state=0)
    Z, K = _white(X)
    tight, slow = refine_unmixing(Z.float(), tol=7e-4, max_iter=20)
    assert slow["n_iter"] >= 15
    M, info = refine_unmixing(Z.float(), tol=7e-4, sampling_tol=0.5, max_iter=20)
    assert info["converged"] and 2 * info["n_iter"] <= slow["n_iter"]
    errors = [_laplace_error(W, K, A, (0, 1)) for W in (tight, M)]
    assert errors[1] < 1.1 * errors[0]


def test_piecewise_linear_scores_equal_the_basis_expansion():
    # Rows whose second fits take the smallest ridge (a standardised cube of a
    # Gaussian, far from Gaussian), one in between (a standardised logistic,
    # E[phi'] about 1.1) and the largest (an unstandardised cube: E[phi'] < 1).
    Y = _skewed(1)
    g = torch.Generator().manual_seed(1)
    u = torch.rand(Y.shape[1], dtype=torch.float64, generator=g)
    Y[1] = torch.log(u / (1 - u))
    Y[:2] /= Y[:2].std(dim=1, keepdim=True)
    knots = _knots(Y, 20)
    sums = _bucket_sums(Y, _buckets(Y, knots), 21)
    slopes, intercepts, curvature = _fit_scores(sums, knots, 1e-2)
    # The same coefficients, solved directly from the explicit basis: a fit
    # with the ridge 1e-2, then one with each column's ridge 1e-3 / (E[phi'] - 1)
    # of the first, kept within 1e-3 and 3e-2 (the most where E[phi'] <= 1).
    basis = _ramp_basis(Y, knots)
    gram = basis.mT @ basis / Y.shape[1]
    ramps = gram.diagonal(dim1=-2, dim2=-1)[:, 1:-1]
    target = _basis_moments(sums, knots)[1]

    def solve(ridge):
        shift = torch.zeros(3, 22, dtype=torch.float64)
        shift[:, 1:-1] = (ridge * ramps.mean(dim=1) + 1e-9 * gram[:, 0, 0])[:, None]
        return torch.linalg.solve(gram + torch.diag_embed(shift), target)

    first = (target * solve(torch.full((3,), 1e-2, dtype=torch.float64))).sum(dim=1)
    ridge = np.clip(1e-3 / np.maximum(first.numpy() - 1, 1e-12), 1e-3, 3e-2)
    coef = solve(torch.as_tensor(ridge))
    phi = (basis @ coef[:, :, None])[..., 0]
    assert_allclose(_scores(Y, knots, slopes, intercepts), phi, rtol=1e-8, atol=1e-8)
    assert_allclose(curvature, (target * coef).sum(dim=1), rtol=1e-10)


def test_score_matching_recovers_known_scores():
    g = torch.Generator().manual_seed(0)
    n = 20000
    gaussian = torch.randn(n, dtype=torch.float64, generator=g)
    # Logistic density: its score is tanh(y / 2), bounded and nonlinear.
    u = torch.rand(n, dtype=torch.float64, generator=g)
    logistic = torch.log(u / (1 - u))
    Y = torch.stack([gaussian, logistic])
    knots = _knots(Y, 20)
    sums = _bucket_sums(Y, _buckets(Y, knots), 21)
    slopes, intercepts, curvature = _fit_scores(sums, knots, 1e-3)
    phi = _scores(Y, knots, slopes, intercepts)
    truth = torch.stack([gaussian, torch.tanh(logistic / 2)])
    # A nonparametric fit: its error is largest in the tails; a sign or scale
    # error would give an RMS error of about 1.
    assert ((phi - truth).pow(2).mean(dim=1).sqrt() < 0.1).all()
    # E[phi'] is the Fisher information: 1 for N(0, 1), 1/3 for the logistic.
    assert_allclose(curvature, [1.0, 1 / 3], rtol=0.03)


def test_score_covariance_in_chunks_equals_one_product(monkeypatch):
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(1000, 3, dtype=torch.float64, generator=g) ** 3
    M = torch.eye(3, dtype=torch.float64) + 0.1
    Y = M.float() @ Z.float().T  # the chunks are computed in float32
    knots = _knots(Y, 20)
    slopes, intercepts, _ = _fit_scores(
        _bucket_sums(Y, _buckets(Y, knots), 21), knots, 1e-2
    )
    phi = _scores(Y, knots, slopes, intercepts)
    direct = phi @ Y.T / 1000
    monkeypatch.setattr("skvcreg._ica._refine._CHUNK_ROWS", 97)
    G = _score_covariance(Z, None, M, knots, slopes, intercepts)
    assert_allclose(G, direct.double(), rtol=1e-5, atol=1e-6)


def _white(X):
    X = X - X.mean(axis=0)
    d, u = np.linalg.eigh(X.T @ X / len(X))
    K = (u / np.sqrt(d)).T
    return torch.as_tensor(X @ K.T), K


def test_refinement_improves_a_rough_unmixing_and_is_a_fixed_point():
    X, S, A = make_ica_mixture(["laplace", "uniform", "j"], 4000, random_state=0)
    Z, K = _white(X)
    # Start from the true unmixing (of the white data) spoiled by noise.
    g = torch.Generator().manual_seed(0)
    truth = torch.linalg.inv(torch.as_tensor(K @ A))
    W0 = truth + 0.05 * torch.randn(3, 3, dtype=torch.float64, generator=g)
    M, info = refine_unmixing(Z, W0)
    assert info["converged"] and info["n_iter"] < 20
    before = amari_distance(W0.numpy() @ K, A)
    after = amari_distance(M.numpy() @ K, A)
    assert after < before / 3
    # float32 components, float64 moments
    assert_allclose((Z @ M.T).std(dim=0, correction=0), 1.0, rtol=1e-6)
    again, info = refine_unmixing(Z, M)
    assert info["n_iter"] <= 2
    assert_allclose(again, M, atol=5e-3)


def test_extrapolation_jumps_to_the_geometric_sum_of_aligned_steps():
    g = torch.Generator().manual_seed(0)
    step = torch.randn(5, 5, dtype=torch.float64, generator=g)
    # Shorter by a ratio r in the same direction: the sum 1 / (1 - r).
    assert _extrapolation(0.8 * step, step) == pytest.approx(5.0)
    assert _extrapolation(0.95 * step, step) == _refine._MAX_JUMP  # capped
    assert _extrapolation(step, None) == 1.0  # the first step
    assert _extrapolation(-0.8 * step, step) == 1.0  # turns back
    assert _extrapolation(1.2 * step, step) == 1.0  # grows
    assert _extrapolation(0.3 * step, step) == 1.0  # converging fast already
    other = torch.randn(5, 5, dtype=torch.float64, generator=g)
    assert _extrapolation(0.8 * other, step) == 1.0  # another direction


def _shared_envelope(n=20_000, m=12, seed=0):
    """Sources whose scales follow one slow envelope (as a recording's change
    of state): dependent, so the 2x2 blocks miss the coupling of the pairs
    and the plain steps converge linearly."""
    rng = np.random.default_rng(seed)
    envelope = np.exp(np.convolve(rng.standard_normal(n), np.ones(200) / 60, "same"))
    S = rng.standard_normal((n, m)) ** 3 / 3
    S[:, :4] = rng.laplace(size=(n, 4))
    X = (envelope[:, None] * S) @ rng.standard_normal((m, m)).T
    return torch.from_numpy(X - X.mean(axis=0))


def test_extrapolation_shortens_linear_convergence_to_the_same_solution(monkeypatch):
    X = _shared_envelope()
    Z, K = _white(X.numpy())

    def refine():
        g = torch.Generator().manual_seed(0)
        return refine_unmixing(Z, tol=1e-4, fit_rows=None, generator=g)

    M, info = refine()
    monkeypatch.setattr(_refine, "_MAX_JUMP", 1.0)  # plain steps only
    plain, plain_info = refine()
    assert info["converged"] and plain_info["converged"]
    assert info["n_iter"] < 0.6 * plain_info["n_iter"]
    assert_allclose(M, plain, atol=2e-3)


def test_score_fit_on_a_subset_keeps_every_row_in_the_equations():
    # 30000 rows, scores fitted on 5000 of them: as accurate as fitting on all
    # (the score's error only enters at second order), on average over six
    # mixtures (one mixture's ratio ranged from 0.9 to 1.4).
    ratios = []
    for seed in range(6):
        densities = ["laplace", "uniform", "k", "b"]
        X, _, A = make_ica_mixture(densities, 30000, random_state=seed)
        Z, K = _white(X)
        errors = {}
        for rows in (5000, None):
            M, info = refine_unmixing(
                Z.float(), fit_rows=rows, generator=torch.Generator().manual_seed(0)
            )
            assert info["converged"]
            errors[rows] = amari_distance(M.numpy() @ K, A)
        ratios.append(errors[5000] / errors[None])
    assert np.mean(ratios) < 1.1


def test_from_white_data_with_float32_rows():
    # From the white data (no start), in float32 with float64 moments: the
    # refinement alone is maximum likelihood with estimated densities, within
    # 1.3x the Cramer-Rao floor on densities without spurious solutions.
    densities = ["laplace", "b", "k", "a", "d", "l"]
    X, _, A = make_ica_mixture(densities, 20000, random_state=0)
    Z, K = _white(X)
    M, info = refine_unmixing(Z.float(), tol=1e-3)
    assert info["converged"] and M.dtype == torch.float64
    floor = cramer_rao_amari(densities, 20000)
    assert amari_distance(M.numpy() @ K, A) < 1.3 * floor


@pytest.mark.parametrize("seed", range(4))
def test_knots_in_the_tails_fit_an_artefacts_score(seed):
    # A component that is an artefact's: 99% N(0, 1) and 1% N(0, 30^2), whose
    # score is known. Knots reaching into the tails, ever wider apart there,
    # fit it with less than 0.6 times the error of knots evenly spaced between
    # the 2% and 98% quantiles (a scale so large that the coordinate is linear),
    # whose tails take the bulk's slope; in the tails and over all rows.
    g = torch.Generator().manual_seed(seed)
    n = 20_000
    sd = torch.where(torch.rand(n, generator=g) < 0.01, 30.0, 1.0).double()
    y = torch.randn(n, generator=g, dtype=torch.float64) * sd
    Y = (y / y.std())[None]
    s1, s2 = 1 / y.std(), 30 / y.std()
    p1 = 0.99 * torch.exp(-0.5 * (Y / s1) ** 2) / s1
    p2 = 0.01 * torch.exp(-0.5 * (Y / s2) ** 2) / s2
    psi = (p1 * Y / s1**2 + p2 * Y / s2**2) / (p1 + p2)
    tail = Y.abs() > torch.quantile(Y.abs(), 0.99)
    n_knots, ridge = score_fit_rules(n)

    def errors(knots):
        sums = _bucket_sums(Y, _buckets(Y, knots), n_knots + 1)
        slopes, intercepts, _ = _fit_scores(sums, knots, ridge)
        squared = (_scores(Y, knots, slopes, intercepts) - psi) ** 2
        return [
            float(squared[part].mean() / psi[part].square().mean())
            for part in (tail, torch.ones_like(tail))
        ]

    ends = torch.quantile(Y[0], torch.tensor([0.02, 0.98], dtype=torch.float64))
    scale = torch.tensor([[1e6]], dtype=torch.float64)
    low, high = (_coordinate(end.reshape(1, 1), scale) for end in ends)
    u = low + (high - low) * torch.linspace(0, 1, n_knots, dtype=torch.float64)
    even = Knots(u * scale / (1 - u.abs()), scale, low, (high - low) / (n_knots - 1))
    for new, old in zip(errors(_knots(Y, n_knots)), errors(even), strict=True):
        assert new < 0.6 * old


def test_scale_is_over_every_row_and_the_collapse_correlation_within_a_few_hundredths():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((3, 20_000))
    Y[2] = 0.8 * Y[0] + 0.6 * Y[2]  # correlation 0.8 with the first row
    Y *= np.array([[1.0], [2.0], [0.5]])
    scale, correlation = _scale_and_correlation(torch.from_numpy(Y).float())
    rms = np.sqrt(np.square(Y.astype(np.float32).astype(np.float64)).mean(axis=1))
    assert_allclose(scale.numpy(), rms, rtol=1e-12)
    assert abs(correlation - np.corrcoef(Y)[0, 2]) < 0.05
    assert correlation > _refine._COLLAPSE
