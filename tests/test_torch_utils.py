"""Tests for skvcreg._torch_utils: the device policy and the seeded generator."""

import inspect
import re

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import (
    InvalidParameterError,
    validate_parameter_constraints,
)

from skvcreg._torch_utils import DEVICE_CONSTRAINT, make_generator, resolve_device

NO_GPU = not torch.cuda.is_available()


@pytest.mark.parametrize(
    "device, expected",
    [
        ("cpu", torch.device("cpu")),
        (torch.device("cpu"), torch.device("cpu")),
        ("auto", torch.device("cuda" if not NO_GPU else "cpu")),
    ],
)
def test_resolve_device_accepts_the_policy(device, expected):
    assert resolve_device(device) == expected


@pytest.mark.parametrize(
    "device", ["gpu", "CPU", "cuda:", "cuda:x", "cuda0", " cpu", "mps", "", 0, None]
)
def test_resolve_device_rejects_everything_else(device):
    with pytest.raises(ValueError, match="is not a device skvcreg accepts; use 'auto'"):
        resolve_device(device)


def test_resolve_device_rejects_a_torch_device_of_another_type():
    with pytest.raises(ValueError, match="type cpu or cuda"):
        resolve_device(torch.device("meta"))


@pytest.mark.skipif(not NO_GPU, reason="a GPU is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_resolve_device_cuda_without_a_gpu(device):
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        resolve_device(device)


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU")
def test_resolve_device_cuda_index_out_of_range():
    count = torch.cuda.device_count()
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match=f"sees {count} CUDA GPU"):
        resolve_device(f"cuda:{count}")


@pytest.mark.parametrize(
    "value", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", torch.device("cpu")]
)
def test_device_constraint_accepts(value):
    validate_parameter_constraints(
        {"device": DEVICE_CONSTRAINT}, {"device": value}, caller_name="f"
    )


@pytest.mark.parametrize("value", ["gpu", "cuda:", "cuda:-1", 1, None])
def test_device_constraint_rejects_with_the_accepted_values(value):
    message = (
        "The 'device' parameter of f must be a str among {'auto', 'cpu', 'cuda', "
        "'cuda:N'} or an instance of 'torch.device'"
    )
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        validate_parameter_constraints(
            {"device": DEVICE_CONSTRAINT}, {"device": value}, caller_name="f"
        )


def test_make_generator_is_seeded_and_on_the_cpu():
    a = torch.rand(5, generator=make_generator(0))
    b = torch.rand(5, generator=make_generator(0))
    assert torch.equal(a, b)
    assert make_generator(0).device == torch.device("cpu")
    state = np.random.RandomState(0)
    first, second = make_generator(state), make_generator(state)
    assert first.initial_seed() != second.initial_seed()
    # The generator is always a CPU one: there is no device parameter.
    assert list(inspect.signature(make_generator).parameters) == ["random_state"]
