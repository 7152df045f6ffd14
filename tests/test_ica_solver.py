import itertools
import math

import pytest
import torch
from numpy.testing import assert_allclose

from skvcreg._ica_solver import (
    _basis_moments,
    _quantile_knots,
    _ramp_basis,
    _score_moments,
    _tail_sums,
    pair_contrast,
    refine_by_scores,
    round_robin,
    solve_rotation,
)
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import amari_distance
from skvcreg.projectors import SeparableRandomProjector


def _projector(seed=0):
    g = torch.Generator().manual_seed(seed)
    return SeparableRandomProjector((16,), kind="relu", generator=g)


@pytest.mark.parametrize("m", [1, 2, 3, 6, 7])
def test_round_robin_covers_each_pair_once_in_disjoint_rounds(m):
    rounds = round_robin(m)
    pairs = [p for r in rounds for p in r]
    assert sorted(pairs) == list(itertools.combinations(range(m), 2))
    for r in rounds:
        members = [i for p in r for i in p]
        assert len(members) == len(set(members))


def test_pair_contrast_detects_dependence_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2000, dtype=torch.float64, generator=g) * 2 - 1
    noise = torch.randn(2000, dtype=torch.float64, generator=g)
    independent = torch.stack([x, noise], dim=1)
    dependent = torch.stack([x, x**2 + 0.05 * noise], dim=1)  # uncorrelated
    values = pair_contrast(torch.stack([independent, dependent]), _projector())
    # Independent: O(L / n) bias only; x vs x^2: two orders of magnitude more.
    assert values[0] < 1e-3 < 0.02 < values[1]
    swapped = pair_contrast(dependent.flip(-1), _projector())
    assert_allclose(float(swapped), float(values[1]), rtol=1e-10)


def test_solve_rotation_unmixes_rotated_sources():
    g = torch.Generator().manual_seed(0)
    S = torch.rand(1500, 3, dtype=torch.float64, generator=g) * 2 - 1
    S = (S - S.mean(0)) / S.std(0)
    R = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=g))[0]
    W, info = solve_rotation(S @ R.T, _projector(), generator=g)
    assert_allclose((W @ W.T).numpy(), torch.eye(3).numpy(), atol=1e-12)
    P = (W @ R).abs()
    assert float((P.max(dim=1).values - 1).abs().max()) < 0.01  # a permutation
    assert info["converged"] and 1 <= info["n_iter"] == len(info["loss_curve"])


def test_solve_rotation_reports_non_convergence():
    g = torch.Generator().manual_seed(0)
    S = torch.rand(500, 4, dtype=torch.float64, generator=g) * 2 - 1
    R = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=g))[0]
    _, info = solve_rotation(S @ R.T, _projector(), max_iter=1, tol=1e-12)
    assert not info["converged"] and info["n_iter"] == 1


def test_polishing_stops_when_the_contrast_stops_falling():
    # Gaussian data have no independent directions: every rotation is as good,
    # so on a finite sample the polished angles keep moving in the contrast's
    # noise and never all fall below tol. Polishing stops once a sweep no
    # longer lowers the summed contrast; the check sweep then finds no pair
    # whose contrast would drop by 10%.
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(500, 6, dtype=torch.float64, generator=g)
    W, info = solve_rotation(Z, _projector())
    assert info["converged"] and info["n_iter"] < 10
    assert_allclose((W @ W.T).numpy(), torch.eye(6).numpy(), atol=1e-12)


def test_solve_rotation_single_component():
    W, info = solve_rotation(torch.randn(10, 1, dtype=torch.float64), _projector())
    assert_allclose(W.numpy(), [[1.0]])
    assert info["converged"] and info["n_iter"] == 0


def test_two_components_angle_is_global():
    # A rotation by pi/4 + 0.3 is found whatever the starting quadrant.
    g = torch.Generator().manual_seed(1)
    S = torch.rand(1000, 2, dtype=torch.float64, generator=g) * 2 - 1
    a = math.pi / 4 + 0.3
    R = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    W, _ = solve_rotation(S @ R.double().T, _projector())
    P = (W @ R.double()).abs()
    assert float(P.min(dim=1).values.max()) < 0.03


def test_basis_moments_from_tail_sums_match_the_explicit_basis(monkeypatch):
    # The Gram matrix of [y, ramps, 1] and the mean derivatives, from sums of
    # 1, y, y^2 above each knot, against the basis computed row by row; in
    # chunks of 97 rows, as for data larger than one chunk.
    monkeypatch.setattr("skvcreg._ica_solver._CHUNK_ROWS", 97)
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(1003, 3, dtype=torch.float64, generator=g) ** 3  # skewed tails
    knots = _quantile_knots(Y, 20)
    gram, target = _basis_moments(_tail_sums(Y, knots), knots)
    basis = _ramp_basis(Y, knots)  # (m, n, K + 2)
    assert_allclose(gram, basis.mT @ basis / len(Y), rtol=1e-10, atol=1e-12)
    slopes = torch.ones_like(basis)
    slopes[:, :, 1:-1] = (basis[:, :, 1:-1] > 0).double()
    slopes[:, :, -1] = 0.0
    assert_allclose(target, slopes.mean(dim=1), atol=1e-14)


def test_score_matching_recovers_known_scores():
    g = torch.Generator().manual_seed(0)
    n = 20000
    gaussian = torch.randn(n, dtype=torch.float64, generator=g)
    # Logistic density: its score is tanh(y / 2), bounded and nonlinear.
    u = torch.rand(n, dtype=torch.float64, generator=g)
    logistic = torch.log(u / (1 - u))
    Y = torch.stack([gaussian, logistic], dim=1)
    # 20 knots as refine_by_scores; a light ridge, to check the fit itself.
    knots = _quantile_knots(Y, 20)
    _, curvature, coef = _score_moments(Y, knots, ridge=1e-3)
    phi = (_ramp_basis(Y, knots) @ coef[:, :, None])[..., 0].T
    rms = (phi - torch.stack([gaussian, torch.tanh(logistic / 2)], dim=1)).pow(2)
    # A nonparametric fit: its error is largest in the tails; the RMS errors are
    # 0.08 and 0.05 here (a sign or scale error would give about 1).
    assert (rms.mean(dim=0).sqrt() < 0.1).all()
    # E[phi'] is the Fisher information: 1 for N(0, 1), 1/3 for the logistic.
    assert_allclose(curvature, [1.0, 1 / 3], rtol=0.02)


def test_refinement_improves_a_rough_unmixing_and_is_a_fixed_point():
    X, S, A = make_ica_mixture(["laplace", "uniform", "j"], 4000, random_state=0)
    X = torch.as_tensor(X - X.mean(axis=0))
    # Start from the true unmixing spoiled by a small random matrix.
    g = torch.Generator().manual_seed(0)
    W0 = torch.linalg.inv(torch.as_tensor(A)) + 0.05 * torch.randn(
        3, 3, dtype=torch.float64, generator=g
    )
    Y = X @ W0.T
    Y = Y / Y.std(dim=0)
    M, info = refine_by_scores(Y)
    assert info["converged"] and info["n_iter"] < 20
    before = amari_distance(W0.numpy(), A)
    after = amari_distance((M @ W0).numpy(), A)
    assert after < before / 3
    refined = Y @ M.T
    assert_allclose(refined.std(dim=0, correction=0), 1.0, rtol=1e-10)
    again, info = refine_by_scores(refined)
    assert info["n_iter"] <= 2
    assert_allclose(again, torch.eye(3, dtype=torch.float64), atol=5e-3)


def test_refinement_in_row_chunks_matches_one_pass(monkeypatch):
    X, _, _ = make_ica_mixture(["laplace", "uniform", "j"], 1000, random_state=1)
    Y = torch.as_tensor(X - X.mean(axis=0))
    Y = Y / Y.std(dim=0)
    whole, _ = refine_by_scores(Y)
    monkeypatch.setattr("skvcreg._ica_solver._CHUNK_ROWS", 97)
    chunked, _ = refine_by_scores(Y)
    assert_allclose(chunked, whole, rtol=1e-10, atol=1e-12)
