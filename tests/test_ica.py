import pickle
import warnings

import numpy as np
import pytest
import torch
from _ica_reference import cramer_rao_amari
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse, stats
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from skvcreg import VCRegICA
from skvcreg._ica import _solver
from skvcreg._ica._refine import refine_unmixing
from skvcreg._ica._solver import _row_log_likelihoods
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import (
    amari_distance,
    match_sources,
    pairwise_independence_score,
)


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
    with pytest.warns(
        UserWarning,
        match=r"X has rank 2 of 4 after centring \(linearly dependent columns, to "
        r"within the rounding of their values, as after an average reference or "
        r"SSP projectors\): fitting 2 components \(n_components=5\)",
    ):
        clipped = VCRegICA(n_components=5, random_state=0).fit(X)
    assert clipped.components_.shape == (2, 4)


@pytest.mark.parametrize("kind", ["constant", "collinear"])
def test_degenerate_columns_warn_and_stay_finite(kind):
    X, _, _ = make_ica_mixture(["laplace", "uniform"], 300, random_state=0)
    extra = np.ones((300, 1)) if kind == "constant" else X[:, :1] * 2 - X[:, 1:]
    X = np.hstack([X, extra])
    why = "1 constant column" if kind == "constant" else "linearly dependent columns"
    with pytest.warns(UserWarning, match=f"X has rank 2 of 3 after centring \\({why}"):
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
    grid = [(1,), (32,)]
    search = GridSearchCV(
        VCRegICA(refine=False, random_state=0), {"projector_widths": grid}, cv=2
    ).fit(X)
    # Each score is the fold's independence of the fitted components, and the
    # search keeps the best: a one-feature projector cannot see the (j)/(q)
    # dependence, so it separates worse and loses.
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0]
    assert search.best_params_["projector_widths"] == (32,)


@pytest.mark.parametrize(
    ("m", "params", "widths", "n_angles", "rows"),
    [
        # the kernel sweeps only choose the refinement's basin
        (2, {}, (16,), 8, 2000),
        (2, {"refine": False}, (32,), 12, 2000),  # the contrast is the estimate
        (10, {}, (32,), 8, 1000),  # the contrast screens the refined components
        (2, {"projector_widths": [8, 4], "n_angles": 5}, (8, 4), 5, 2000),
        (2, {"max_samples": None}, (16,), 8, None),
    ],
)
def test_auto_projector_widths_angles_and_rows(m, params, widths, n_angles, rows):
    X, _, _ = make_ica_mixture(m, 2000, random_state=0)
    ica = VCRegICA(random_state=0, **params).fit(X)
    assert ica.projector_widths_ == widths
    assert ica.n_angles_ == n_angles
    assert ica.max_samples_ == rows
    # "auto" is the values it resolves to, not a different fit.
    explicit = {
        **params,
        "projector_widths": widths,
        "n_angles": n_angles,
        "max_samples": rows,
    }
    same = VCRegICA(random_state=0, **explicit).fit(X)
    assert_allclose(same.components_, ica.components_)


def test_a_multimodal_source_among_gaussians_is_found():
    # A skewed multimodal source (Bach & Jordan's (q), J = 2.28) beside three
    # Gaussians. With a score ridge of 10 / r on 4000 rows the refinement
    # could not undo the kernel sweeps' choice: on 1000 rows they left the
    # source spread over four components (correlation 0.67 with its best
    # match). With the refinement's ridge of 10 / sqrt(1000 r) it is found
    # from either start.
    names = ["gaussian"] * 3 + ["q", "d", "p", "k", "a"]
    X, S, _ = make_ica_mixture(names, n_samples=4000, random_state=3)
    for max_samples in ("auto", 1000):
        found = VCRegICA(random_state=3, max_samples=max_samples).fit(X)
        assert match_sources(S, found.transform(X)).correlations[3] > 0.99


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


def test_verbose_says_what_each_number_is(hard_mixture, capsys):
    X, _, _ = hard_mixture
    VCRegICA(verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "[VCRegICA] kernel sweep 1: summed pair contrast" in out
    assert "(minimised;" in out
    assert "[VCRegICA] refinement step 1: largest update" in out
    X16, _, _ = make_ica_mixture(["laplace"] * 10, 3000, random_state=0)
    VCRegICA(verbose=1, random_state=0).fit(X16)
    out = capsys.readouterr().out
    assert "kernel sweep" not in out and "[VCRegICA] screen 1:" in out
    assert "[VCRegICA] start: FastICA on the white rows" in out


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_beyond_eight_components_matches_the_cpu():  # pragma: no cover
    # The FastICA start, the chunked refinement and the screen on the GPU: the
    # same accuracy as on the CPU (float32 products reduce in another order,
    # so not the same digits).
    densities = list("abdfhklnoprabdkl")
    X, _, A = make_ica_mixture(densities, 20000, random_state=0)
    gpu = VCRegICA(device="cuda", random_state=0).fit(X)
    cpu = VCRegICA(device="cpu", random_state=0).fit(X)
    floor = cramer_rao_amari(densities, 20000)
    assert gpu.converged_ and amari_distance(gpu.components_, A) < 1.3 * floor
    assert amari_distance(gpu.components_, cpu.mixing_) < 0.2 * floor


def test_refinement_converges_near_the_floor_with_sixteen_sources():
    # m = 16, n = 2x10^4: the refinement starts from the white data, converges
    # (converged_ is true) and lands within 1.3x the Cramer-Rao floor; the
    # kernel contrast alone (no refinement) is far from it.
    densities = list("abdfhklnoprabdkl")
    X, _, A = make_ica_mixture(densities, 20000, random_state=0)
    ica = VCRegICA(random_state=0).fit(X)
    assert ica.converged_ and ica.n_refine_iter_ > 0 and ica.n_iter_ == 0
    floor = cramer_rao_amari(densities, 20000)
    assert amari_distance(ica.components_, A) < 1.3 * floor
    alone = VCRegICA(refine=False, random_state=0).fit(X)
    assert amari_distance(alone.components_, A) > 2 * floor


def test_screen_rescues_a_spurious_likelihood_solution():
    # Two sources of (j): from the white data, maximum likelihood with
    # estimated densities stops at a spurious solution on this mixture (Amari
    # error about 0.94). Given that start, the kernel screen finds the pair
    # still dependent, rotates it to the right basin and the refinement ends
    # at the sources.
    X, _, A = make_ica_mixture(["j", "j"], 1000, random_state=1)
    first = VCRegICA(random_state=0).fit(X)
    assert amari_distance(first.components_, A) < 0.05
    K = first.whitening_
    Z = torch.as_tensor((X - first.mean_) @ K.T)
    M, _ = refine_unmixing(Z, tol=2e-3)
    assert amari_distance(M.numpy() @ K, A) > 0.5  # the spurious solution
    ica = VCRegICA(w_init=M.numpy(), random_state=0).fit(X)
    assert amari_distance(ica.components_, A) < 0.05


def test_row_log_likelihoods_are_vasicek_densities():
    # The mean over rows of the per-row log-likelihoods the screen compares is
    # log |det U| minus the components' entropies by Vasicek's spacing
    # estimate (its default window, sqrt(n) ranks).
    rng = np.random.default_rng(0)
    X = rng.laplace(size=(5000, 3))
    U = rng.standard_normal((3, 3))
    rows = _row_log_likelihoods(torch.from_numpy(X), None, torch.from_numpy(U))
    Y = (X - X.mean(axis=0)) @ U.T
    Y /= Y.std(axis=0, ddof=1)
    entropy = stats.differential_entropy(Y, method="vasicek", axis=0)
    log_scale = np.log(((X - X.mean(axis=0)) @ U.T).std(axis=0, ddof=1))
    expected = np.linalg.slogdet(U)[1] - log_scale.sum() - entropy.sum()
    assert rows.shape == (5000,)
    assert_allclose(rows.mean().item(), expected, rtol=1e-5)


def test_a_screen_round_that_lowers_the_likelihood_is_undone(monkeypatch):
    # The screen proposes turning a pair of separated sources by 0.6 rad and
    # the refinement (switched off here) keeps the turn: a less likely
    # unmixing, which the screen undoes. Without the likelihood's check
    # (an infinite tolerance) the turned pair stays mixed.
    X, _, A = make_ica_mixture(["laplace", "uniform", "b"], 4000, random_state=0)
    ica = VCRegICA(random_state=0).fit(X)
    white = ica.components_ @ np.linalg.pinv(ica.whitening_)
    c, s = np.cos(0.6), np.sin(0.6)
    turn = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    monkeypatch.setattr(_solver, "_polish", lambda problem, U: (U, 0, True))
    monkeypatch.setattr(_solver, "dependent_pairs", lambda z, t: [[(0, 1)]])
    monkeypatch.setattr(
        _solver, "rotate_pairs", lambda *args, **kwargs: (turn.double(), 0.6)
    )
    guarded = VCRegICA(w_init=white, random_state=0).fit(X)
    assert amari_distance(guarded.components_, A) < 0.05
    monkeypatch.setattr(_solver, "_LIKELIHOOD_Z", np.inf)
    unguarded = VCRegICA(w_init=white, random_state=0).fit(X)
    assert amari_distance(unguarded.components_, A) > 0.2


def test_w_init_is_the_start_and_is_checked():
    X, _, A = make_ica_mixture(["laplace", "uniform", "b"], 2000, random_state=0)
    ica = VCRegICA(random_state=0).fit(X)
    # A warm start at the solution: the refinement is already converged there.
    # The start is decorrelated first (as FastICA's w_init), which moves this
    # nearly orthogonal one a little: the components agree well within an
    # entry's sampling error, 1 / sqrt(2000) = 0.022.
    white = ica.components_ @ np.linalg.pinv(ica.whitening_)
    warm = VCRegICA(w_init=white, random_state=0).fit(X)
    assert warm.n_iter_ == 0 and warm.n_refine_iter_ <= 2
    assert_allclose(np.abs(warm.components_ @ ica.mixing_), np.eye(3), atol=1e-2)
    with pytest.raises(ValueError, match=r"w_init has shape \(2, 2\); it must be"):
        VCRegICA(w_init=np.eye(2)).fit(X)


@pytest.mark.parametrize("solver", ["eigh", "svd"])
def test_whiten_solvers_agree(solver, hard_mixture):
    X, _, A = hard_mixture
    ica = VCRegICA(whiten_solver=solver, random_state=0).fit(X)
    reference = VCRegICA(whiten_solver="svd", random_state=0).fit(X)
    assert_allclose(ica.whitening_, reference.whitening_, rtol=1e-8, atol=1e-10)
    assert amari_distance(ica.components_, A) < 0.05


def test_float32_large_n_keeps_a_weak_channel():
    # 10^6 float32 rows with one channel 20x weaker than the others: the rank
    # tolerance is the rounding of the input, not a multiple of n, so all four
    # components are kept (FastICA keeps them too).
    rng = np.random.default_rng(0)
    X = rng.laplace(size=(1_000_000, 4)).astype(np.float32)
    X[:, 3] *= 0.05
    ica = VCRegICA(max_samples=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ica.fit(X)
    assert ica.components_.shape == (4, 4)
    # Axis-aligned sources: the unmixing is a scaled permutation.
    assert amari_distance(ica.components_, np.eye(4)) < 0.01


def test_float32_ten_million_rows_has_full_rank():
    # Before: from about 8.4x10^6 float32 rows every fit failed with "rank 0".
    from skvcreg._data import InMemoryRows
    from skvcreg._ica._whitening import fit_whitening

    rng = np.random.default_rng(0)
    X = rng.standard_normal((10_000_000, 2), dtype=np.float32)
    X[:, 1] = 0.5 * X[:, 0] + X[:, 1]
    mean, K, rank, n_constant, scale = fit_whitening(InMemoryRows(X), None)
    assert n_constant == 0 and scale == 1.0
    assert rank == 2 and K.shape == (2, 2)
    cov = np.zeros((2, 2))
    for start in range(0, len(X), 1_000_000):
        chunk = X[start : start + 1_000_000] - mean
        cov += chunk.T @ chunk
    assert_allclose(K @ (cov / len(X)) @ K.T, np.eye(2), atol=1e-6)


def test_whiten_true_is_rejected_as_in_fastica(hard_mixture):
    X, _, _ = hard_mixture
    with pytest.raises(ValueError, match="'whiten' parameter of VCRegICA must be"):
        VCRegICA(whiten=True).fit(X)


def test_tol_zero_runs_max_iter_and_warns(hard_mixture):
    X, _, _ = make_ica_mixture(["laplace", "uniform", "b"], 500, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ica = VCRegICA(tol=0.0, max_iter=3, random_state=0).fit(X)
    assert ica.n_iter_ == 3 and not ica.converged_


def test_transform_copy_false_centres_in_place(hard_mixture):
    X, _, _ = hard_mixture
    ica = VCRegICA(random_state=0).fit(X)
    expected = ica.transform(X)
    Xc = X.copy()
    assert_allclose(ica.transform(Xc, copy=False), expected)
    assert_allclose(Xc, X - ica.mean_)  # overwritten, as FastICA's
    assert_allclose(ica.inverse_transform(expected, copy=False), X, atol=1e-10)
    # Another layout is copied into C order: the same sources, X left alone.
    fortran = np.asfortranarray(X)
    assert_array_equal(ica.transform(fortran, copy=False), expected)
    assert_array_equal(fortran, X)


@pytest.mark.parametrize(
    "X, params",
    [
        (np.tile([0.1, 0.2, 0.3], (100, 1)), {}),
        (np.tile([0.1, 0.2, 0.3], (100, 1)), {"refine": False}),
        (np.tile([1e8, -3.0], (50, 1)).astype(np.float32), {}),
    ],
)
def test_constant_data_is_rank_zero_whatever_its_values(X, params):
    # Before: constant non-zero columns passed the rank check (its tolerance was
    # relative to a singular value of pure round-off) and gave NaN or 1e30.
    with pytest.raises(ValueError, match="rank 0"):
        VCRegICA(**params).fit(X)


def test_two_rows_without_whitening_stay_finite():
    # FastICA fits this (ignoring n_components); so do we, without NaN.
    with pytest.warns(UserWarning, match="Ignoring n_components"):
        ica = VCRegICA(n_components=1, whiten=False, random_state=0).fit(
            [[0.0, 1.0], [1.0, 0.0]]
        )
    assert np.all(np.isfinite(ica.components_))


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "auto"])
def test_device_values_shared_with_the_embedder(device, hard_mixture):
    X, _, A = hard_mixture
    ica = VCRegICA(device=device, random_state=0).fit(X)
    assert amari_distance(ica.components_, A) < 0.05


def test_device_errors_name_the_problem(hard_mixture):
    X, _, _ = hard_mixture
    with pytest.raises(ValueError, match="'device' parameter of VCRegICA must be"):
        VCRegICA(device="gpu").fit(X)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
            VCRegICA(device="cuda:0").fit(X)


def test_fastica_start_recovers_a_rotation_of_white_sources():
    """The start of fits with more than KERNEL_FIRST components: FastICA on white
    rows, seeded from the solver's generator (same seed, same start)."""
    from scipy.stats import special_ortho_group

    from skvcreg._ica._solver import _fastica_start

    rng = np.random.default_rng(0)
    S = rng.laplace(size=(20_000, 10)) / np.sqrt(2.0)
    R = special_ortho_group.rvs(10, random_state=1)
    white = torch.as_tensor(S @ R.T)
    W = _fastica_start(white, torch.Generator().manual_seed(0))
    assert W.dtype == torch.float64 and W.shape == (10, 10)
    # The white data themselves score 3.07 here, a random rotation about 3.5;
    # FastICA's sampling error at 20,000 Laplace rows is about 0.05.
    assert amari_distance(W.numpy(), R) < 0.1
    again = _fastica_start(white, torch.Generator().manual_seed(0))
    assert torch.equal(W, again)


def _explained_variance(ica, X):
    """The variance of ``X`` each component explains, from a direct numpy
    computation: the squared norm of its mixing column times its power."""
    S = (X - ica.mean_) @ ica.components_.T
    return np.sum(ica.mixing_**2, axis=0) * np.mean(S**2, axis=0)


@pytest.mark.parametrize("whiten", ["unit-variance", "arbitrary-variance", False])
def test_components_sorted_by_explained_variance_and_signed(whiten):
    # Four sources of very different powers: the order by explained variance
    # is unambiguous, and the largest entry of each mixing column is positive.
    X, _, A = make_ica_mixture(["laplace", "uniform", "j", "b"], 2000, random_state=2)
    X = X * np.array([1.0, 3.0, 0.3, 10.0])
    if whiten is False:
        white = VCRegICA(random_state=0).fit(X)
        X = (X - white.mean_) @ white.whitening_.T
    ica = VCRegICA(whiten=whiten, random_state=0).fit(X)
    variance = _explained_variance(ica, X)
    assert np.all(np.diff(variance) < 0), variance
    peaks = ica.mixing_[np.argmax(np.abs(ica.mixing_), axis=0), np.arange(4)]
    assert np.all(peaks > 0)
    assert_allclose(ica.components_ @ ica.mixing_, np.eye(4), atol=1e-8)


def test_order_and_sign_do_not_depend_on_the_input_column_order():
    # Permuting the observed channels permutes the rows of the mixing matrix
    # and changes neither the explained variances nor each column's largest
    # entry: the components come out in the same order and sign.
    X, _, _ = make_ica_mixture(["laplace", "uniform", "b"], 3000, random_state=5)
    X = X * np.array([1.0, 4.0, 0.5])
    columns = np.array([2, 0, 1])
    a = VCRegICA(random_state=0).fit(X)
    b = VCRegICA(random_state=0).fit(X[:, columns])
    Sa, Sb = a.transform(X), b.transform(X[:, columns])
    assert np.all(np.diag(np.corrcoef(Sa.T, Sb.T)[:3, 3:]) > 0.99)
    assert_allclose(b.mixing_, a.mixing_[columns], atol=0.05)


def test_same_seed_gives_identical_order_sign_and_values(hard_mixture):
    X, _, _ = hard_mixture
    first = VCRegICA(random_state=7).fit(X)
    second = VCRegICA(random_state=7).fit(X)
    assert np.array_equal(first.components_, second.components_)
    assert np.array_equal(first.mixing_, second.mixing_)


def test_average_reference_fits_at_rank_and_inverse_transform_gives_the_data_back():
    # An average reference (each row minus its mean over channels) removes one
    # dimension: five channels, rank four. One warning says so; no component is
    # rounding noise blown up; transform then inverse_transform is the identity.
    X, _, _ = make_ica_mixture(
        ["laplace", "uniform", "b", "laplace"], 2000, n_features=5, random_state=0
    )
    X = X - X.mean(axis=1, keepdims=True)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ica = VCRegICA(random_state=0).fit(X)
    messages = [str(w.message) for w in record if w.category is UserWarning]
    assert len(messages) == 1 and "X has rank 4 of 5 after centring" in messages[0]
    S = ica.transform(X)
    assert S.shape == (2000, 4)
    assert_allclose(S.std(axis=0), 1.0, rtol=1e-8)
    assert_allclose(ica.inverse_transform(S), X, atol=1e-10 * np.abs(X).max())
