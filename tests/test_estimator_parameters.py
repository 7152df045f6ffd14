"""Parameter checks of the two estimators that scikit-learn's constraints cannot
express, each with the message that names the parameter (reproductions of the
cases where the message was wrong, or a valid call was refused)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skvcreg import VCRegEmbedder, VCRegICA


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).laplace(size=(120, 3))


@pytest.mark.parametrize("widths", [(True,), (8, False), (0,), (8.0,), ()])
def test_ica_projector_widths_message_names_the_parameter(X, widths):
    # Before, a bool passed the estimator's check and the projector refused it
    # as "widths must be ...".
    match = r"^projector_widths must be a non-empty tuple of positive integers"
    with pytest.raises(ValueError, match=match):
        VCRegICA(projector_widths=widths).fit(X)


@pytest.mark.parametrize("bandwidths", [1e-300, 1e300, (1.0, 1e-40), 1e-31])
def test_ica_bandwidths_out_of_float32_range_are_named(X, bandwidths):
    # Before: "bandwidths must be a positive finite float" for 1e-300, which is
    # one (it rounds to 0 in the float32 features).
    with pytest.raises(ValueError, match=r"bandwidths must lie between 1e-30 and"):
        VCRegICA(bandwidths=bandwidths).fit(X)


@pytest.mark.parametrize("bandwidths", [True, (1.0, False), (1.0, -1.0), (np.nan,)])
def test_ica_bandwidths_that_are_not_positive_floats(X, bandwidths):
    with pytest.raises(ValueError, match="bandwidths must be a positive float"):
        VCRegICA(bandwidths=bandwidths).fit(X)


def _embedder(**params):
    defaults = dict(
        n_components=2,
        encoder_widths=(8,),
        projector_widths=[16, 16],
        max_epochs=1,
        random_state=0,
    )
    return VCRegEmbedder(**{**defaults, **params})


def test_partial_fit_takes_a_tuple_for_the_list_that_built_the_networks(X):
    """``[16, 16]`` and ``(16, 16)`` build the same networks: setting one after
    the other is not a change (it was refused as "changed")."""
    model = _embedder().partial_fit(X)
    model.set_params(projector_widths=(16, 16), encoder_widths=[8])
    model.partial_fit(X)
    reference = _embedder(projector_widths=(16, 16), encoder_widths=[8])
    reference.partial_fit(X).partial_fit(X)
    assert model.n_iter_ == reference.n_iter_ == 2
    assert_array_equal(model.transform(X), reference.transform(X))


def test_partial_fit_sees_a_list_of_widths_edited_in_place(X):
    widths = [16, 16]
    model = _embedder(projector_widths=widths).partial_fit(X)
    widths[1] = 8  # the parameter is this very list
    with pytest.raises(
        ValueError, match=r"projector_widths from \(16, 16\) to \[16, 8\] changed"
    ):
        model.partial_fit(X)
