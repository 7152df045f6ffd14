import itertools
import math

import pytest
import torch
from numpy.testing import assert_allclose

from skvcreg._ica._rotation import (
    all_pair_contrasts,
    dependent_pairs,
    pair_contrast,
    rotate_pairs,
    round_robin,
    solve_rotation,
)
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
    W, info = solve_rotation(S @ R.T, _projector())
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


def test_all_pair_contrasts_equal_each_pair_contrast():
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(700, 4, dtype=torch.float64, generator=g)
    Y[:, 3] = Y[:, 0] ** 2 - 1 + 0.3 * Y[:, 3]  # uncorrelated but dependent
    proj = _projector()
    T, z = all_pair_contrasts(Y, proj)
    for i, j in itertools.combinations(range(4), 2):
        one = pair_contrast(Y[:, [i, j]], proj)
        assert_allclose(float(T[i, j]), float(one), rtol=1e-8)
        assert_allclose(float(T[j, i]), float(one), rtol=1e-8)
    assert_allclose(torch.diagonal(T).numpy(), 0.0)
    # Only the dependent pair stands out from what independence explains.
    assert float(z[0, 3]) > 50
    others = [float(z[i, j]) for i, j in itertools.combinations(range(3), 2)]
    assert max(others) < 4


def test_null_scale_of_the_screen_is_calibrated():
    # Independent columns: the standardised excess has mean about 0 and
    # standard deviation about 1 over the 190 pairs of 20 columns.
    g = torch.Generator().manual_seed(3)
    Y = torch.rand(1000, 20, dtype=torch.float64, generator=g) * 2 - 1
    _, z = all_pair_contrasts(Y, _projector())
    values = z[torch.triu_indices(20, 20, offset=1).unbind()]
    assert abs(float(values.mean())) < 0.3
    assert 0.6 < float(values.std()) < 1.6


def test_dependent_pairs_come_in_disjoint_rounds_most_dependent_first():
    z = torch.zeros(4, 4, dtype=torch.float64)
    for (i, j), value in {(0, 1): 9.0, (1, 2): 8.0, (2, 3): 7.0, (0, 3): 1.0}.items():
        z[i, j] = z[j, i] = value
    assert dependent_pairs(z, 5.0) == [[(0, 1), (2, 3)], [(1, 2)]]
    assert dependent_pairs(z, 10.0) == []


def test_rotate_pairs_moves_a_pair_out_of_a_wrong_basin():
    # Two uniform sources rotated by pi/8 (the worst angle): the global search
    # brings them back; an independent third column is left alone.
    g = torch.Generator().manual_seed(0)
    S = (torch.rand(1000, 3, dtype=torch.float64, generator=g) * 2 - 1) * 3**0.5
    a = math.pi / 8
    R = torch.eye(3, dtype=torch.float64)
    R[:2, :2] = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    Y = S @ R.T
    rotation, largest = rotate_pairs(Y.clone(), [[(0, 1)]], _projector())
    assert abs(largest - a) < 0.05
    P = (rotation @ R).abs()
    assert float((P.max(dim=1).values - 1).abs().max()) < 0.01
    assert_allclose(rotation[2].numpy(), [0.0, 0.0, 1.0])
