import itertools
import math

import pytest
import torch
from numpy.testing import assert_allclose

from skvcreg._ica_solver import pair_contrast, round_robin, solve_rotation
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
