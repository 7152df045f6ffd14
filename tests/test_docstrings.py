"""Every public object has a valid numpydoc docstring with an example.

The public objects are those listed in the ``__all__`` of the package and of its
public modules; the docs' API reference (docs/api.rst) documents the same set.
"""

import importlib

import pytest

# numpydoc is a test extra: without it, this module is skipped (with its reason)
# rather than failing to import.
validate = pytest.importorskip("numpydoc.validate").validate

PUBLIC_MODULES = [
    "skvcreg",
    "skvcreg.augmentations",
    "skvcreg.datasets",
    "skvcreg.losses",
    "skvcreg.metrics",
    "skvcreg.mne",
    "skvcreg.plotting",
    "skvcreg.projectors",
]
# Checks required of every public class and function: a docstring, a one-line
# summary, every parameter documented and none unknown, an Examples section.
CHECKS = {"GL08", "SS01", "PR01", "PR02", "EX01"}
NOT_OBJECTS = {"__version__", "DENSITIES"}  # data, documented in their module


def _public_objects():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name not in NOT_OBJECTS:
                yield f"{module_name}.{name}"


def _public_methods():
    for path in _public_objects():
        module_name, name = path.rsplit(".", 1)
        obj = getattr(importlib.import_module(module_name), name)
        if not isinstance(obj, type):
            continue
        for member, value in vars(obj).items():
            if member.startswith("_") or not callable(
                getattr(value, "__func__", value)
            ):
                continue
            yield f"{path}.{member}"


@pytest.mark.parametrize("path", sorted(_public_objects()))
def test_public_object_docstring(path):
    errors = [
        f"{code}: {message}"
        for code, message in validate(path)["errors"]
        if code in CHECKS
    ]
    assert not errors, f"{path}: {errors}"


@pytest.mark.parametrize("path", sorted(set(_public_methods())))
def test_public_method_docstring(path):
    if path.endswith((".forward", ".extra_repr")):
        pytest.skip("torch.nn.Module hook, documented by torch")
    errors = [
        f"{code}: {message}"
        for code, message in validate(path)["errors"]
        if code in CHECKS - {"EX01"}
    ]
    assert not errors, f"{path}: {errors}"
