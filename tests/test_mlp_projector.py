"""Tests for skvcreg.projectors._mlp."""

import math

import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from skvcreg.projectors._mlp import make_mlp_projector


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "widths, expected",
    [
        ((8,), ["Linear"]),
        ((16, 4), ["Linear", "BatchNorm1d", "ReLU", "Linear"]),
        ((16, 16, 4), ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear"]),
    ],
)
def test_layer_structure(widths, expected):
    mlp = make_mlp_projector(5, widths, generator=_gen())
    assert [type(m).__name__ for m in mlp] == expected
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    assert [lin.out_features for lin in linears] == list(widths)
    assert linears[0].in_features == 5


def test_without_batch_norm_accepts_leading_dimensions():
    mlp = make_mlp_projector(3, (7, 2), batch_norm=False, generator=_gen())
    assert [type(m).__name__ for m in mlp] == ["Linear", "ReLU", "Linear"]
    x = torch.randn(4, 6, 3, dtype=torch.float64, generator=_gen(1))
    assert mlp(x).shape == (4, 6, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_generator_seed_gives_same_weights_and_global_rng_untouched(dtype):
    state = torch.get_rng_state()
    a = make_mlp_projector(4, (8, 3), generator=_gen(3), dtype=dtype)
    b = make_mlp_projector(4, (8, 3), generator=_gen(3), dtype=dtype)
    c = make_mlp_projector(4, (8, 3), generator=_gen(4), dtype=dtype)
    assert torch.equal(torch.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert pa.dtype == dtype
        assert torch.equal(pa, pb)
    assert not torch.equal(a[0].weight, c[0].weight)


def test_initialisation_is_pytorch_default_uniform():
    mlp = make_mlp_projector(100, (400,), generator=_gen())
    bound = 1 / math.sqrt(100)
    weight = mlp[0].weight.detach()
    assert weight.abs().max() <= bound
    # U(-b, b) has standard deviation b / sqrt(3); 40000 draws pin it to ~0.5%.
    assert_allclose(float(weight.std()), bound / math.sqrt(3), rtol=0.02)


def test_frozen_projector_has_no_trainable_parameters_and_stays_put():
    mlp = make_mlp_projector(4, (8, 3), frozen=True, generator=_gen())
    assert not any(p.requires_grad for p in mlp.parameters())
    before = [p.clone() for p in mlp.parameters()]
    x = torch.randn(16, 4, dtype=torch.float64, generator=_gen(1), requires_grad=True)
    mlp(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for p, q in zip(mlp.parameters(), before, strict=True):
        assert p.grad is None
        assert torch.equal(p, q)


def test_trainable_projector_gets_gradients():
    mlp = make_mlp_projector(4, (8, 3), generator=_gen())
    x = torch.randn(16, 4, dtype=torch.float64, generator=_gen(1))
    mlp(x).square().sum().backward()
    assert all(p.grad is not None for p in mlp.parameters())


@pytest.mark.parametrize(
    "in_features, widths",
    [(0, (4,)), (3, ()), (3, (4, 0)), (3, (-1,)), (3, (8.7,)), (2.5, (4,))],
)
def test_bad_widths(in_features, widths):
    with pytest.raises(ValueError, match="positive integers"):
        make_mlp_projector(in_features, widths)


def test_no_bias_where_batch_norm_or_the_loss_removes_it():
    mlp = make_mlp_projector(5, (16, 16, 4), generator=_gen())
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    assert [lin.bias is None for lin in linears] == [True, True, False]
    plain = make_mlp_projector(5, (16, 4), batch_norm=False, output_bias=False)
    assert [lin.bias is None for lin in plain if isinstance(lin, nn.Linear)] == [
        False,
        True,
    ]
