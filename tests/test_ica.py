import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import sparse
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from skvcreg import VCRegICA
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import amari_distance, pairwise_independence_score


@pytest.fixture(scope="module")
def hard_mixture():
    # (j) and (q): skewed multimodal sources, hard for FastICA and Picard.
    return make_ica_mixture(["j", "q"], 1000, random_state=0)


@parametrize_with_checks([VCRegICA(random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_recovers_sources_fastica_misses():
    # Two sources of density (j), skewed and bimodal: FastICA's fixed contrast
    # is nearly flat there (its Amari error is about 0.9 on this mixture).
    X, S, A = make_ica_mixture(["j", "j"], 1000, random_state=0)
    ica = VCRegICA(random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fastica = FastICA(random_state=0).fit(X)
    assert amari_distance(ica.components_, A) < 0.05
    assert amari_distance(fastica.components_, A) > 0.2


@pytest.mark.parametrize("projector", ["relu", "fourier"])
def test_recovers_three_sources(projector):
    X, S, A = make_ica_mixture(["laplace", "uniform", "j"], 2000, random_state=1)
    ica = VCRegICA(projector=projector, random_state=0).fit(X)
    assert amari_distance(ica.components_, A) < 0.05
    assert ica.n_iter_ == len(ica.loss_curve_) >= 2
    assert ica.converged_ is True


def test_fit_transform_matches_transform_and_formula(hard_mixture):
    X, _, _ = hard_mixture
    ica = VCRegICA(random_state=0)
    S_est = ica.fit_transform(X)
    assert_allclose(S_est, ica.transform(X), atol=1e-10)
    assert_allclose(S_est, (X - ica.mean_) @ ica.components_.T, atol=1e-10)
    assert_allclose(S_est.std(axis=0), 1.0, rtol=1e-10)
    assert_allclose(ica.inverse_transform(S_est), X, atol=1e-10)
    assert_allclose(ica.components_ @ ica.mixing_, np.eye(2), atol=1e-10)


def test_same_seed_same_result_other_seed_still_solves(hard_mixture):
    X, _, A = hard_mixture
    a = VCRegICA(random_state=3).fit(X).components_
    b = VCRegICA(random_state=3).fit(X).components_
    assert_allclose(a, b)
    c = VCRegICA(random_state=4).fit(X).components_
    assert amari_distance(c, A) < 0.05


def test_float32_in_float32_out(hard_mixture):
    X, _, A = hard_mixture
    ica = VCRegICA(random_state=0)
    S32 = ica.fit_transform(X.astype(np.float32))
    assert S32.dtype == np.float32 and ica.components_.dtype == np.float32
    assert ica.transform(X.astype(np.float32)).dtype == np.float32
    assert amari_distance(ica.components_.astype(np.float64), A) < 0.05


def test_arbitrary_variance_and_no_whitening(hard_mixture):
    X, _, A = hard_mixture
    ica = VCRegICA(whiten="arbitrary-variance", random_state=0)
    S_est = ica.fit_transform(X)
    # As FastICA: the whitening has unit-norm rows, so the variance is 1/n.
    assert_allclose(S_est.var(axis=0), 1 / len(X), rtol=1e-8)
    assert amari_distance(ica.components_, A) < 0.05
    Z = VCRegICA(whiten="unit-variance", random_state=0).fit(X)
    white = (X - Z.mean_) @ Z.whitening_.T
    with pytest.warns(UserWarning, match="Ignoring n_components with whiten=False"):
        raw = VCRegICA(n_components=2, whiten=False, refine=False, random_state=0).fit(
            white
        )
    assert_allclose(raw.mean_, 0.0)
    # The kernel contrast's solution is a rotation of the white data; the score
    # refinement moves it off the rotations by about the whitening's sampling
    # error (of order n^-1/2).
    assert_allclose(raw.components_ @ raw.components_.T, np.eye(2), atol=1e-10)
    refined = VCRegICA(whiten=False, random_state=0).fit(white)
    gram = refined.components_ @ refined.components_.T
    assert_allclose(gram, np.eye(2), atol=5 / np.sqrt(len(X)))
    assert not np.allclose(gram, np.eye(2), atol=1e-8)


def test_score_refinement_lowers_the_error_on_average():
    # Five mixtures of four sources: the refinement starts from the kernel
    # contrast's solution and solves the efficient estimating equations.
    errors = {True: [], False: []}
    for seed in range(5):
        X, _, A = make_ica_mixture(["j", "q", "b", "c"], 2000, random_state=seed)
        for refine in errors:
            ica = VCRegICA(refine=refine, random_state=seed).fit(X)
            errors[refine].append(amari_distance(ica.components_, A))
            assert ica.converged_ and (ica.n_refine_iter_ > 0) == refine
    assert np.mean(errors[True]) < 0.85 * np.mean(errors[False])


def test_check_sweep_escapes_a_local_minimum_of_the_polishing():
    # Eight sources (three of (f), two of (j)): polishing from the first sweep's
    # angles stopped in a local minimum here (Amari error 0.29, against about
    # 0.04 for other subsamples of rows); the global check sweep leaves it.
    X, _, A = make_ica_mixture(8, 4000, random_state=51)
    ica = VCRegICA(random_state=51).fit(X)
    assert ica.converged_
    assert amari_distance(ica.components_, A) < 0.06


def test_n_components_reduces_and_clips():
    X, _, _ = make_ica_mixture(
        ["laplace", "uniform"], 500, n_features=4, random_state=0
    )
    ica = VCRegICA(n_components=2, random_state=0).fit(X)
    assert ica.components_.shape == (2, 4) and ica.mixing_.shape == (4, 2)
    assert list(ica.get_feature_names_out()) == ["vcregica0", "vcregica1"]
    with pytest.warns(UserWarning, match="n_components is too large: it will be set"):
        clipped = VCRegICA(n_components=5, random_state=0).fit(X)
    assert clipped.components_.shape == (2, 4)


@pytest.mark.parametrize("kind", ["constant", "collinear"])
def test_degenerate_columns_warn_and_stay_finite(kind):
    X, _, _ = make_ica_mixture(["laplace", "uniform"], 300, random_state=0)
    extra = np.ones((300, 1)) if kind == "constant" else X[:, :1] * 2 - X[:, 1:]
    X = np.hstack([X, extra])
    with pytest.warns(UserWarning, match="rank of the centred data"):
        S_est = VCRegICA(random_state=0).fit_transform(X)
    assert S_est.shape == (300, 2) and np.all(np.isfinite(S_est))


def test_all_constant_input_is_an_error():
    with pytest.raises(ValueError, match="rank 0"):
        VCRegICA().fit(np.ones((10, 3)))


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.array([[1.0, np.nan], [2.0, 3.0], [0.0, 1.0]]), ValueError, "NaN"),
        (np.array([[1.0, np.inf], [2.0, 3.0], [0.0, 1.0]]), ValueError, "infinity"),
        (np.array([[1 + 1j, 2.0], [2.0, 3.0]]), ValueError, "Complex data"),
        (sparse.random(10, 3, density=0.5, format="csr"), TypeError, "Sparse data"),
        (np.array([[1.0, 2.0]]), ValueError, "minimum of 2 is required"),
    ],
)
def test_bad_input_errors(X, error, match):
    with pytest.raises(error, match=match):
        VCRegICA().fit(X)


def test_wrong_width_at_transform(hard_mixture):
    X, _, _ = hard_mixture
    ica = VCRegICA(random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but VCRegICA is expecting"):
        ica.transform(np.ones((5, 3)))
    with pytest.raises(ValueError, match="expects 2 \\(the number of components\\)"):
        ica.inverse_transform(np.ones((5, 3)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"projector_widths": ()}, "projector_widths must be a non-empty tuple"),
        ({"projector_widths": (16, 0)}, "projector_widths must be a non-empty tuple"),
        ({"bandwidths": (1.0, -2.0)}, "bandwidths must be a positive float"),
        ({"projector": "tanh"}, "'projector' parameter of VCRegICA must be"),
        ({"max_iter": 0}, "'max_iter' parameter of VCRegICA must be"),
    ],
)
def test_bad_parameters(hard_mixture, params, match):
    X, _, _ = hard_mixture
    with pytest.raises(ValueError, match=match):
        VCRegICA(**params).fit(X)


def test_convergence_warning_says_what_to_change():
    X, _, _ = make_ica_mixture(["laplace", "uniform", "c", "b"], 500, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Increase max_iter, loosen tol"):
        ica = VCRegICA(max_iter=1, tol=1e-12, random_state=0).fit(X)
    assert ica.n_iter_ == 1
    assert ica.converged_ is False


def test_score_is_pairwise_independence_and_drives_grid_search(hard_mixture):
    X, _, _ = hard_mixture
    ica = VCRegICA(random_state=0).fit(X)
    assert ica.score(X) == pytest.approx(pairwise_independence_score(ica.transform(X)))
    # The unmixed sources are more independent than the mixtures themselves.
    assert ica.score(X) > pairwise_independence_score(X)
    search = GridSearchCV(
        VCRegICA(random_state=0), {"projector_widths": [(4,), (32,)]}, cv=2
    ).fit(X)
    assert search.best_params_["projector_widths"] in [(4,), (32,)]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_pickle_and_pandas_output(hard_mixture):
    pd = pytest.importorskip("pandas")
    X, _, _ = hard_mixture
    ica = VCRegICA(random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(ica))
    assert_allclose(restored.transform(X), ica.transform(X))
    df = pd.DataFrame(X, columns=["a", "b"])
    frame = VCRegICA(random_state=0).set_output(transform="pandas").fit_transform(df)
    assert list(frame.columns) == ["vcregica0", "vcregica1"]
    assert_allclose(frame.to_numpy(), ica.transform(X))


def test_verbose_prints_sweeps(hard_mixture, capsys):
    X, _, _ = hard_mixture
    VCRegICA(verbose=1, random_state=0).fit(X)
    assert "[VCRegICA] sweep 1: contrast" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the CPU-only message")
def test_cuda_requested_without_gpu(hard_mixture):
    X, _, _ = hard_mixture
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        VCRegICA(device="cuda").fit(X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_transforms_on_cpu(hard_mixture):
    X, _, A = hard_mixture
    ica = VCRegICA(device="cuda", random_state=0).fit(X)
    assert amari_distance(ica.components_, A) < 0.05
    restored = pickle.loads(pickle.dumps(ica))
    assert isinstance(restored.transform(X), np.ndarray)
