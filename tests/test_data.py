"""The data boundary: scale, rank, degenerate starts, strides, dask gaps and
refits that fail (each case failed before the rows object and the scale-safe
whitening)."""

import copy
import dataclasses
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal, assert_equal
from sklearn.exceptions import ConvergenceWarning

from skvcreg import VCRegEmbedder, VCRegICA
from skvcreg._data import power_of_two_scale, row_ranges
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import amari_distance

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def mixture():
    return make_ica_mixture(3, 1000, random_state=0)


@pytest.fixture(scope="module")
def reference(mixture):
    X, _, _ = mixture
    return VCRegICA(random_state=0).fit(X)


def _fit_quietly(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no rank warning
        return VCRegICA(random_state=0, **params).fit(X)


def _state(estimator):
    return copy.deepcopy(vars(estimator))


def _assert_same_state(before, estimator):
    after = vars(estimator)
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(after[name], value, err_msg=name)
        elif dataclasses.is_dataclass(value):  # certificate_: arrays in fields
            assert_equal(dataclasses.asdict(after[name]), dataclasses.asdict(value))
        elif name != "encoder_" and name != "_training_state":
            assert after[name] == value, name


# ----------------------------------------------------------- class 1: scale


def test_power_of_two_scale():
    assert power_of_two_scale(0.0) == 1.0
    assert power_of_two_scale(3.0) == 1.0 and power_of_two_scale(1e-19) == 1.0
    for peak in (1e40, 1e-40, 1e300, 1e-300, 5e-320):
        scale = power_of_two_scale(peak)
        assert 0.5 <= peak / scale < 1.0
        assert np.frexp(scale)[0] == 0.5  # a power of two


@pytest.mark.parametrize("exponent", [-1000, -200, 200, 1000])
def test_scale_by_a_power_of_two_is_exact(mixture, reference, exponent):
    # Before: beyond about 1e+-38 the fit failed inside torch (float32 white
    # data), and at 1e+-300 it said every column was constant.
    X, _, _ = mixture
    factor = 2.0**exponent
    ica = _fit_quietly(X * factor)
    assert_array_equal(ica.components_ * factor, reference.components_)
    assert_array_equal(ica.mean_ / factor, reference.mean_)


@pytest.mark.parametrize("factor", [1e40, 1e-40, 1e300, 1e-300])
def test_any_scale_gives_the_same_sources(mixture, reference, factor):
    X, _, A = mixture
    ica = _fit_quietly(X * factor)
    assert_allclose(ica.transform(X * factor), reference.transform(X), atol=1e-5)
    assert amari_distance(ica.components_, A) < 0.05


def test_float32_at_large_scale(mixture):
    X, _, A = mixture
    ica = _fit_quietly((X * 1e30).astype(np.float32))
    assert ica.components_.dtype == np.float32
    assert amari_distance(ica.components_.astype(np.float64), A) < 0.05


def test_unmixing_beyond_the_dtype_is_a_clear_error(mixture):
    X, _, _ = mixture
    with pytest.raises(ValueError, match="The unmixing of X overflows float64"):
        VCRegICA(random_state=0).fit(X * 2.0**-1060)  # subnormal values
    with pytest.raises(ValueError, match="The unmixing of X overflows float32"):
        VCRegICA(random_state=0).fit((X * 1e-41).astype(np.float32))


# ------------------------------------------------------ class 2: the rank


def test_constant_column_at_a_large_value_is_dropped_alone(mixture):
    X, _, A = mixture
    with pytest.warns(
        UserWarning,
        match=r"X has rank 3 of 4 after centring \(1 constant column\(s\)\): "
        "fitting 3 components",
    ):
        ica = VCRegICA(random_state=0).fit(np.c_[X, np.full(len(X), 1e15)])
    assert ica.components_.shape == (3, 4)
    assert_allclose(ica.components_[:, 3], 0.0, atol=1e-12)
    assert amari_distance(ica.components_[:, :3], A) < 0.05


def test_timestamp_column_beside_the_data_keeps_every_component(mixture):
    X, _, A = mixture
    stamps = 1.7e18 + 1e9 * np.arange(len(X))
    ica = _fit_quietly(np.c_[X, stamps])
    assert ica.components_.shape == (4, 4)
    S = ica.transform(np.c_[X, stamps])
    # Three of the components are the sources (the fourth the timestamps).
    corr = np.abs(np.corrcoef(S.T, (X @ np.linalg.inv(A).T).T)[:4, 4:])
    assert np.sort(corr.max(axis=0)).min() > 0.97


def _one_outlier(X):
    X = X.copy()
    X[0, 0] = 1e15
    return X


@pytest.mark.parametrize(
    "make, params",
    [
        (lambda X: (X * [1e-3, 1.0, 1e3]).astype(np.float32), {}),
        (lambda X: (X + 1e6).astype(np.float32), {}),
        (_one_outlier, {}),
        (_one_outlier, {"whiten_solver": "svd"}),
    ],
    ids=["float32-units", "float32-offset", "outlier-eigh", "outlier-svd"],
)
def test_units_offsets_and_outliers_keep_every_component(mixture, make, params):
    X, _, _ = mixture
    ica = _fit_quietly(make(X), **params)
    assert ica.components_.shape == (3, 3)
    assert np.all(np.isfinite(ica.components_))


def test_float32_offset_still_separates(mixture):
    X, _, A = mixture
    ica = _fit_quietly((X + 1e6).astype(np.float32))
    assert amari_distance(ica.components_.astype(np.float64), A) < 0.05


@pytest.mark.parametrize("solver", ["eigh", "svd"])
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_average_reference_has_one_clear_warning(dtype, offset, solver):
    # An average reference (as EEG recordings have) removes one dimension; an
    # offset far above the spread (a DC offset kept in float32) rounds each
    # value, which must not count as a dimension of its own.
    X, _, _ = make_ica_mixture(["laplace", "uniform", "b", "c"], 2000, random_state=0)
    X = (X - X.mean(axis=1, keepdims=True) + offset).astype(dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ica = VCRegICA(whiten_solver=solver, random_state=0).fit(X)
    messages = [str(w.message) for w in caught if w.category is UserWarning]
    assert messages == [
        "X has rank 3 of 4 after centring (linearly dependent columns, to within "
        "the rounding of their values, as after an average reference or SSP "
        "projectors): fitting 3 components."
    ]
    assert ica.components_.shape == (3, 4)
    # Nothing blown up: no row of the unmixing amplifies the rounding.
    assert np.abs(ica.components_).max() < 100


@pytest.mark.parametrize("offset", [1e3, 1e5])
def test_offset_float32_keeps_full_rank(offset):
    X, _, _ = make_ica_mixture(["laplace", "uniform", "b", "c"], 2000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ica = VCRegICA(random_state=0).fit((X + offset).astype(np.float32))
    assert ica.components_.shape == (4, 4)


def test_dask_scale_and_rank_match_memory(mixture):
    X, _, _ = mixture
    for data in (X * 1e300, np.c_[X, np.full(len(X), 1e15)]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            lazy = VCRegICA(random_state=0).fit(da.from_array(data, chunks=(300, -1)))
            held = VCRegICA(random_state=0).fit(data)
        assert lazy.components_.shape == held.components_.shape
        assert amari_distance(lazy.components_, held.mixing_) < 1e-3


# ----------------------------------------------------- class 3: w_init


@pytest.mark.parametrize(
    "w_init, params, match",
    [
        (np.ones((3, 3)), {}, r"w_init is singular \(rank 1 of 3\)"),
        (np.zeros((3, 3)), {"refine": False}, r"w_init is singular \(rank 0 of 3\)"),
        (np.zeros((3, 3)), {}, r"w_init is singular \(rank 0 of 3\)"),
        (np.full((3, 3), np.nan), {}, "w_init"),
    ],
)
def test_degenerate_w_init_is_refused(mixture, w_init, params, match):
    X, _, _ = mixture
    with pytest.raises(ValueError, match=match):
        VCRegICA(w_init=w_init, **params).fit(X)


def test_w_init_is_decorrelated_as_in_fastica(mixture):
    X, _, _ = mixture
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    plain = VCRegICA(w_init=rotation, random_state=0).fit(X)
    for scaled in (1e300 * rotation, 1e-300 * rotation, 2.0 * rotation):
        ica = VCRegICA(w_init=scaled, random_state=0).fit(X)
        assert_allclose(ica.components_, plain.components_, rtol=1e-10, atol=1e-12)


# -------------------------------------------------------- class 4: tol=0


@pytest.mark.parametrize("params", [{"refine": False, "max_iter": 5}, {"max_iter": 2}])
def test_tol_zero_runs_max_iter_sweeps_and_warns(mixture, params):
    X, _, _ = mixture
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ica = VCRegICA(tol=0.0, random_state=0, **params).fit(X)
    assert ica.n_iter_ == params["max_iter"] and not ica.converged_


# ------------------------------------------------ class 5: negative strides


@pytest.mark.parametrize("flip", [np.s_[::-1], np.s_[:, ::-1]])
def test_negative_strides_fit_as_a_copy(mixture, flip):
    X, _, _ = mixture
    view = X[flip]
    ica = VCRegICA(random_state=0).fit(view)
    assert_array_equal(
        ica.components_, VCRegICA(random_state=0).fit(view.copy()).components_
    )
    assert_allclose(ica.transform(view), ica.transform(view.copy()))


# ----------------------------------------------------- class 6: dask gaps


def _masked(X, chunk=50, keep=150):
    Xd = da.from_array(X[: 2 * keep], chunks=(chunk, X.shape[1]))
    mask = np.zeros(2 * keep, dtype=bool)
    mask[:keep] = True
    Xf = Xd[da.from_array(mask, chunks=chunk)]
    Xf.compute_chunk_sizes()
    assert 0 in Xf.chunks[0]  # the user guide's recipe leaves empty blocks
    return Xf


def test_nan_in_a_later_block_raises_at_compute(reference, mixture):
    X, _, _ = mixture
    bad = X.copy()
    bad[900, 0] = np.nan
    lazy = da.from_array(bad, chunks=(250, 3))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        reference.transform(lazy).compute()
    with pytest.raises(ValueError, match="Input X contains NaN"):
        reference.inverse_transform(lazy).compute()
    bad[900, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        reference.transform(da.from_array(bad, chunks=(250, 3))).compute()


def test_empty_blocks_are_fine_for_vcregica(mixture):
    X, _, _ = mixture
    Xf = _masked(X)
    ica = VCRegICA(random_state=0).fit(Xf)
    held = VCRegICA(random_state=0).fit(X[:150])
    assert amari_distance(ica.components_, held.mixing_) < 1e-3
    assert_allclose(ica.transform(Xf).compute(), ica.transform(X[:150]))


def test_empty_blocks_are_fine_for_vcregembedder(mixture):
    X, _, _ = mixture
    Xf = _masked(X)
    params = dict(n_components=4, max_epochs=2, batch_size=32, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = VCRegEmbedder(**params).fit(Xf)
        held = VCRegEmbedder(**params).fit(X[:150])
    Z = model.transform(Xf).compute()
    assert Z.shape == (150, 4)
    assert_allclose(Z, model.transform(X[:150]))
    assert_allclose(held.transform(Xf).compute(), held.transform(X[:150]))


def test_row_ranges_skip_empty_chunks():
    assert row_ranges((50, 0, 50, 0, 0)) == [(0, 50), (50, 100)]


# ---------------------------------------------- class 7: a refit that fails


def test_failed_dask_refit_of_another_width_keeps_the_fit(mixture, reference):
    X, _, _ = mixture
    ica = copy.deepcopy(reference)
    before = _state(ica)
    bad = np.c_[X, X[:, :1]]
    bad[500, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        ica.fit(da.from_array(bad, chunks=(250, 4)))
    _assert_same_state(before, ica)
    assert_array_equal(ica.transform(X), reference.transform(X))


@pytest.mark.parametrize(
    "params, match",
    [({"w_init": np.ones((3, 3))}, "w_init is singular"), ({}, "inside the solver")],
)
def test_failed_refit_keeps_the_fit(mixture, reference, monkeypatch, params, match):
    from skvcreg._ica import _estimator

    X, _, _ = mixture
    ica = copy.deepcopy(reference).set_params(**params)
    before = _state(ica)
    if not params:

        def broken(*args, **kwargs):
            raise RuntimeError("inside the solver")

        monkeypatch.setattr(_estimator, "solve_ica", broken)
    with pytest.raises((ValueError, RuntimeError), match=match):
        ica.fit(X * 1e3 + 5.0)
    _assert_same_state(before, ica)


def test_failed_refit_with_feature_names_keeps_them(mixture):
    pd = pytest.importorskip("pandas")
    X, _, _ = mixture
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    ica = VCRegICA(random_state=0).fit(frame)
    before = _state(ica)
    with pytest.raises(ValueError, match="NaN"):
        ica.fit(np.full((10, 2), np.nan))
    _assert_same_state(before, ica)
    assert list(ica.feature_names_in_) == ["a", "b", "c"]


def test_embedder_refit_whose_augmentation_raises_keeps_the_fit(mixture):
    X, _, _ = mixture
    model = VCRegEmbedder(n_components=4, max_epochs=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    expected = model.transform(X)
    before = _state(model)

    class Broken:
        def __call__(self, *args, **kwargs):
            raise RuntimeError("augmentation failed")

    model.set_params(augmentation=Broken())
    with pytest.raises(RuntimeError, match="augmentation failed"):
        model.fit(X * 10.0 + 3.0)
    model.set_params(augmentation=None)
    before["augmentation"] = None
    _assert_same_state({k: v for k, v in before.items()}, model)
    assert_array_equal(model.transform(X), expected)


def test_embedder_failed_dask_refit_of_another_width_keeps_the_fit(mixture):
    X, _, _ = mixture
    model = VCRegEmbedder(n_components=4, max_epochs=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    expected = model.transform(X)
    before = _state(model)
    bad = np.c_[X, X[:, :1]]
    bad[500, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.fit(da.from_array(bad, chunks=(250, 4)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.partial_fit(np.full((10, 3), np.nan))
    _assert_same_state(before, model)
    assert_array_equal(model.transform(X), expected)


@pytest.mark.parametrize(
    "X, match",
    [(np.ones((10, 3)), "rank 0"), (np.c_[np.ones(10), np.full(10, np.nan)], "NaN")],
)
def test_failed_first_fit_sets_nothing(X, match):
    # Before: validate_data set n_features_in_ before the rank was known.
    ica = VCRegICA()
    with pytest.raises(ValueError, match=match):
        ica.fit(X)
    assert vars(ica) == vars(VCRegICA())


def test_memory_layout_does_not_change_the_fit():
    # A recording's data transposed into rows is in Fortran order; the sums
    # over a row then ran in another order, and with three Gaussians (a flat
    # likelihood) the unmixing differed in its last digits.
    X, _, _ = make_ica_mixture(
        ["gaussian", "gaussian", "gaussian", "b", "d", "k"], 3000, random_state=0
    )
    fortran = np.asfortranarray(X)
    strided = np.repeat(X, 2, axis=1)[:, ::2]
    reference = VCRegICA(random_state=0).fit(X)
    for other in (fortran, strided):
        ica = VCRegICA(random_state=0).fit(other)
        assert_array_equal(ica.components_, reference.components_)
        assert_array_equal(ica.transform(other), reference.transform(X))
