"""Tests of the separation certificate: metrics.separation_certificate,
VCRegICA.certificate_ and plotting.SeparationCertificateDisplay."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy import integrate, stats

from skvcreg import VCRegICA
from skvcreg._scores import score_information
from skvcreg.datasets import cramer_rao_bound, make_ica_mixture, make_sources
from skvcreg.metrics import (
    SeparationCertificate,
    match_sources,
    separation_certificate,
)
from skvcreg.metrics._certificate import _gain_variance, _gaussian_pair_pvalues

FIELDS = (
    "fisher_information",
    "gain_sd",
    "interference",
    "interference_db",
    "drift",
    "drift_db",
    "drift_ratio",
    "non_identifiable",
    "gaussian_pvalues",
    "pvalues",
    "dependent",
)


def _assert_same(a, b):
    for field in FIELDS:
        x, y = getattr(a, field), getattr(b, field)
        if x is None:
            assert y is None
        else:
            assert_array_equal(x, y)
    assert (a.n_samples, a.n_rows) == (b.n_samples, b.n_rows)


def _rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def test_logistic_fisher_information_closed_form():
    # Logistic of scale s: score tanh(x / 2s) / s, so J = E[score^2] = 1 / (3 s^2);
    # its variance is pi^2 s^2 / 3, so at unit variance J = pi^2 / 9.
    s = np.sqrt(3) / np.pi
    density = stats.logistic(scale=s)
    assert_allclose(density.var(), 1.0)
    direct = integrate.quad(
        lambda x: density.pdf(x) * (np.tanh(x / (2 * s)) / s) ** 2, -40, 40
    )[0]
    assert_allclose(direct, np.pi**2 / 9, rtol=1e-8)


@pytest.mark.parametrize(
    "draw, expected, rtol",
    [
        # Laplace at unit variance: score sqrt(2) sign(x), J = 2.
        (lambda rng, size: rng.laplace(scale=np.sqrt(0.5), size=size), 2.0, 0.06),
        (
            lambda rng, size: rng.logistic(scale=np.sqrt(3) / np.pi, size=size),
            np.pi**2 / 9,
            0.03,
        ),
        (lambda rng, size: rng.standard_normal(size), 1.0, 0.02),
    ],
)
def test_fisher_information_known_densities(draw, expected, rtol):
    # Mean of 10 independent columns of 20,000 rows: the estimate's spread per
    # column is about 0.07 (Laplace) and 0.015 (logistic), so 10 columns leave
    # the bias of the score family, which the tolerance bounds.
    S = draw(np.random.default_rng(0), (20_000, 10))
    cert = separation_certificate(S, np.eye(10), test=False)
    assert np.all(cert.fisher_information >= 1.0)
    assert_allclose(cert.fisher_information.mean(), expected, rtol=rtol)


def test_sandwich_with_exact_scores_is_the_cramer_rao_bound():
    J = np.array([1.0, 1.05, 2.0, 3.5, 12.0])
    variance = _gain_variance(J, J, 4000)
    bound = cramer_rao_bound(J, 4000)
    finite = np.isfinite(bound)
    assert_allclose(variance[finite], bound[finite], rtol=1e-12)
    assert np.array_equal(np.isinf(variance), np.isinf(bound))
    # A score short of the true one (E[phi^2] != E[phi']) costs variance.
    assert np.all(_gain_variance(J, 1.2 * J, 4000)[finite] >= bound[finite])


def test_fisher_information_of_a_uniform_is_large():
    # J is infinite for a uniform; the score family caps it, far above 2.
    S = np.random.default_rng(0).uniform(size=(20_000, 3))
    cert = separation_certificate(S, np.eye(3), test=False)
    assert np.all(cert.fisher_information > 8)


def test_predictions_are_the_sandwich_of_the_fitted_scores():
    rng = np.random.default_rng(0)
    S = np.c_[rng.laplace(size=(3000, 2)), rng.uniform(size=(3000, 2))]
    unmixing = rng.standard_normal((4, 4))
    cert = separation_certificate(S, unmixing, test=False)
    # The components are mixtures here; the formulas hold whatever the scores.
    Y = unmixing @ (S - S.mean(axis=0)).T
    J, k, v = (t.numpy() for t in score_information(torch.from_numpy(Y)))
    assert_allclose(cert.fisher_information, J)
    k, v = np.maximum(k, 1.0), np.maximum(v, 1.0)
    for i in range(4):
        for j in range(4):
            if i == j:
                assert cert.gain_sd[i, j] == 0.0
                continue
            H = np.array([[k[i], 1.0], [1.0, k[j]]])
            middle = np.array([[v[i], 1.0], [1.0, v[j]]])
            inverse = np.linalg.inv(H)
            variance = (inverse @ middle @ inverse)[0, 0] / 3000
            assert_allclose(cert.gain_sd[i, j], np.sqrt(variance), rtol=1e-10)
    assert_allclose(cert.interference, np.sum(cert.gain_sd**2, axis=1))
    assert_allclose(cert.interference_db, 10 * np.log10(cert.interference))
    assert cert.n_samples == 3000 and cert.n_rows == 3000
    assert cert.pvalues is None and cert.dependent is None
    assert cert.dependent_components is None


def test_gaussian_pair_is_non_identifiable():
    rng = np.random.default_rng(0)
    S = np.c_[
        rng.standard_normal((4000, 2)),
        rng.laplace(size=(4000, 2)),
        rng.uniform(size=(4000, 1)),
    ]
    cert = separation_certificate(S, np.eye(5), random_state=0)
    expected = np.zeros((5, 5), dtype=bool)
    expected[0, 1] = expected[1, 0] = True
    assert_array_equal(cert.non_identifiable, expected)
    assert_array_equal(cert.non_identifiable_components, [1, 1, 0, 0, 0])
    assert np.all(cert.gain_sd[:2, 2:] < 0.05)  # a Gaussian beside the others
    # Two Gaussians are flagged at any level (their J cannot be told from 1);
    # a level below a Laplace source's leak beside a Gaussian (1 / sqrt(n (J -
    # 1)) = 0.016 with J = 2) flags the Laplace pair too, never the uniform
    # (its J is far above 1).
    looser = separation_certificate(S, np.eye(5), max_sd=1e3, test=False)
    assert_array_equal(looser.non_identifiable, expected)
    stricter = separation_certificate(S, np.eye(5), max_sd=0.012, test=False)
    assert stricter.non_identifiable[2, 3]
    assert not stricter.non_identifiable[:, 4].any()
    # A Gaussian beside a Laplace source is identifiable: not flagged at a
    # level between the Laplace source's own leak and the pair's sd
    # (sqrt(J / (n (J - 1))) = 0.022), which the old rule, on the pair's sd,
    # flagged.
    between = separation_certificate(S, np.eye(5), max_sd=0.019, test=False)
    assert np.all(between.gain_sd[:2, 2:4] > 0.019)
    assert_array_equal(between.non_identifiable, expected)


def test_two_nearly_gaussian_sources_flagged_at_default():
    # Two Bach-Jordan (i) sources (J = 1.10) are separable at 4000 rows but
    # often left further apart than predicted: flagged by default, and not
    # with the Laplace or the uniform source beside them.
    S = make_sources(["i", "i", "b", "c"], n_samples=4000, random_state=0)
    cert = separation_certificate(S, np.eye(4), test=False, random_state=0)
    expected = np.zeros((4, 4), dtype=bool)
    expected[0, 1] = expected[1, 0] = True
    assert_array_equal(cert.non_identifiable, expected)
    assert cert.gaussian_pvalues[0, 1] < 0.01  # flagged on J alone


def _pair_cumulant_statistic(pair):
    """The Gaussian-pair statistic of a (2, r) pair, from its full cumulant
    tensors: r (sum k3^2 / 6 + sum k4^2 / 24) over all ordered indices."""
    r = pair.shape[1]
    Z = pair - pair.mean(axis=1, keepdims=True)
    Z = Z / Z.std(axis=1, keepdims=True)
    C = Z @ Z.T / r
    k3 = np.einsum("at,bt,ct->abc", Z, Z, Z) / r
    k4 = (
        np.einsum("at,bt,ct,dt->abcd", Z, Z, Z, Z) / r
        - np.einsum("ab,cd->abcd", C, C)
        - np.einsum("ac,bd->abcd", C, C)
        - np.einsum("ad,bc->abcd", C, C)
    )
    return r * (np.sum(k3**2) / 6 + np.sum(k4**2) / 24)


def test_gaussian_pair_statistic_is_the_cumulant_norm():
    rng = np.random.default_rng(0)
    Y = np.c_[
        rng.standard_normal(3000), rng.laplace(size=3000), rng.uniform(size=3000)
    ].T
    Y[1] += 0.3 * Y[0]  # correlated pairs too
    pvalues = _gaussian_pair_pvalues(Y)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        expected = stats.chi2.sf(_pair_cumulant_statistic(Y[[i, j]]), 9)
        assert_allclose(pvalues[i, j], expected, rtol=1e-8)
        assert_allclose(pvalues[j, i], expected, rtol=1e-8)
    # Unchanged by a rotation of a whitened pair: an ICA's choice of rotation
    # within two Gaussians does not move it.
    pair = Y[[1, 2]] - Y[[1, 2]].mean(axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(pair @ pair.T / pair.shape[1])
    white = (vectors / np.sqrt(values)).T @ pair
    turned = _rotation(0.4) @ white
    assert_allclose(
        _pair_cumulant_statistic(turned), _pair_cumulant_statistic(white), rtol=1e-9
    )
    assert_allclose(
        _gaussian_pair_pvalues(turned)[0, 1],
        _gaussian_pair_pvalues(white)[0, 1],
        rtol=1e-6,
    )


def test_gaussian_pair_test_level():
    # Pairs of independent Gaussians: the raw p-values are about uniform.
    rng = np.random.default_rng(0)
    upper = np.triu_indices(10, k=1)
    pvalues = np.concatenate(
        [
            _gaussian_pair_pvalues(rng.standard_normal((10, 4000)))[upper]
            for _ in range(30)
        ]
    )
    assert 0.004 < np.mean(pvalues < 0.01) < 0.025
    assert 0.03 < np.mean(pvalues < 0.05) < 0.07


def test_gaussian_sources_of_an_ica_fit_are_flagged():
    # Four Gaussians among four non-Gaussian sources: VCRegICA picks, within
    # the Gaussians, directions whose estimated J is above 1 by more than the
    # noise of one estimate; the rotation-free test still flags all their pairs,
    # and no other pair.
    names = ["gaussian"] * 4 + ["f", "d", "m", "p"]
    X, S, A = make_ica_mixture(names, n_samples=4000, random_state=17)
    ica = VCRegICA(random_state=17).fit(X)
    G = np.abs(ica.components_ @ (A * S.std(axis=0)))
    order = np.argmax(G / G.max(axis=0), axis=0)  # the component of each source
    assert len(set(order)) == 8
    flags = ica.certificate_.non_identifiable[np.ix_(order, order)]
    expected = np.zeros((8, 8), dtype=bool)
    expected[:4, :4] = ~np.eye(4, dtype=bool)
    assert_array_equal(flags, expected)
    cert = separation_certificate(X, ica.components_, test=False)
    assert_array_equal(cert.non_identifiable[np.ix_(order, order)], expected)


def test_dependence_test_level_on_independent_components():
    # 60 independent components: 1770 pairs per draw, p-values unadjusted.
    rng = np.random.default_rng(0)
    rates = []
    for seed in range(3):
        S = np.c_[
            rng.laplace(size=(2000, 20)),
            rng.uniform(size=(2000, 20)),
            rng.standard_t(3, size=(2000, 20)),
        ]
        cert = separation_certificate(S, np.eye(60), correction=None, random_state=seed)
        upper = np.triu_indices(60, k=1)
        rates.append(np.mean(cert.pvalues[upper] < 0.01))
    assert 0.004 < np.mean(rates) < 0.018
    # With Holm's correction at 0.01, no pair of independent components.
    assert not separation_certificate(S, np.eye(60)).dependent.any()


def test_dependence_test_flags_an_unfinished_separation():
    rng = np.random.default_rng(0)
    S = np.c_[rng.uniform(-1, 1, size=(3000, 2)), rng.laplace(size=(3000, 2))]
    unmixing = np.eye(4)
    unmixing[:2, :2] = _rotation(np.pi / 8)  # uncorrelated, still dependent
    cert = separation_certificate(S, unmixing, random_state=0)
    expected = np.zeros((4, 4), dtype=bool)
    expected[0, 1] = expected[1, 0] = True
    assert_array_equal(cert.dependent, expected)
    assert_array_equal(cert.dependent_components, [1, 1, 0, 0])
    assert cert.level == 0.01 and cert.correction == "holm"
    # Holm's and BH's adjusted p-values are at least the raw ones.
    raw = separation_certificate(S, unmixing, correction=None, random_state=0)
    bh = separation_certificate(S, unmixing, correction="bh", random_state=0)
    assert np.all(cert.pvalues >= raw.pvalues - 1e-15)
    assert np.all(bh.pvalues >= raw.pvalues - 1e-15)
    assert np.all(cert.pvalues >= bh.pvalues - 1e-15)


def test_pair_pvalue_is_pearson_chi_square_on_quantile_bins():
    rng = np.random.default_rng(1)
    x = rng.laplace(size=2000)
    y = 0.3 * np.abs(x) + rng.laplace(size=2000)
    cert = separation_certificate(np.c_[x, y], np.eye(2), correction=None)
    edges = [np.quantile(v, np.linspace(0, 1, 6)[1:-1]) for v in (x, y)]
    table = np.zeros((5, 5))
    np.add.at(table, (np.searchsorted(edges[0], x), np.searchsorted(edges[1], y)), 1)
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert_allclose(cert.pvalues[0, 1], expected, rtol=1e-8)


def test_same_random_state_same_certificate():
    X, _, A = make_ica_mixture(["b", "j", "q"], n_samples=3000, random_state=0)
    W = np.linalg.inv(A)
    first = separation_certificate(X, W, n_rows=1000, random_state=0)
    _assert_same(first, separation_certificate(X, W, n_rows=1000, random_state=0))
    # None takes evenly spaced rows: deterministic too.
    evenly = separation_certificate(X, W, n_rows=1000)
    _assert_same(evenly, separation_certificate(X, W, n_rows=1000))
    assert first.n_rows == 1000 and first.n_samples == 3000


@pytest.mark.parametrize("random_state", [None, 0])
@pytest.mark.parametrize("n_rows", [500, 20_000])
def test_dask_input_equals_numpy(random_state, n_rows):
    da = pytest.importorskip("dask.array")
    X, _, A = make_ica_mixture(["b", "j", "c"], n_samples=2000, random_state=0)
    W = np.linalg.inv(A)
    expected = separation_certificate(X, W, n_rows=n_rows, random_state=random_state)
    result = separation_certificate(
        da.from_array(X, chunks=(300, 3)), W, n_rows=n_rows, random_state=random_state
    )
    _assert_same(result, expected)


@pytest.mark.parametrize(
    "X, unmixing, kwargs, error, match",
    [
        (np.full((100, 2), np.nan), np.eye(2), {}, ValueError, "NaN"),
        (np.ones((100, 2)), np.eye(3), {}, ValueError, "unmixing has 3 columns"),
        (np.ones((20, 2)), np.eye(2), {}, ValueError, "at least 50"),
        (None, np.array([[1.0, 0.0], [0.0, 0.0]]), {}, ValueError, r"Components \[1\]"),
        (None, np.eye(2), {"level": 1.5}, ValueError, "'level' parameter"),
        (None, np.eye(2), {"correction": "x"}, ValueError, "'correction' parameter"),
        (None, np.eye(2), {"n_rows": 5}, ValueError, "'n_rows' parameter"),
        (np.ones((100, 2, 1)), np.eye(2), {}, ValueError, "3"),
    ],
)
def test_bad_input(X, unmixing, kwargs, error, match):
    if X is None:
        X = np.random.default_rng(0).laplace(size=(200, 2))
    with pytest.raises(error, match=match):
        separation_certificate(X, unmixing, **kwargs)


def test_vcregica_certificate_from_the_fit():
    X, S, A = make_ica_mixture(
        ["b", "j", "gaussian", "gaussian"], n_samples=3000, random_state=0
    )
    ica = VCRegICA(random_state=0).fit(X)
    cert = ica.certificate_
    assert isinstance(cert, SeparationCertificate)
    assert cert.pvalues is None
    _assert_same(
        cert, separation_certificate(X, ica.components_, test=False, random_state=0)
    )
    # The two Gaussian sources form the one non-identifiable pair.
    G = np.abs(ica.components_ @ A)
    mixed = G[:, 2:].sum(axis=1) > G[:, :2].sum(axis=1)
    expected = mixed[:, None] & mixed[None, :] & ~np.eye(4, dtype=bool)
    assert_array_equal(cert.non_identifiable, expected)


def test_one_component_has_no_interference():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skvcreg.plotting import SeparationCertificateDisplay

    X = np.random.default_rng(0).laplace(size=(500, 3))
    cert = VCRegICA(n_components=1, random_state=0).fit(X).certificate_
    assert_array_equal(cert.gain_sd, [[0.0]])
    assert cert.interference_db[0] == -np.inf
    display = SeparationCertificateDisplay.from_certificate(cert)
    assert display.bars_[0].get_height() == 0 and display.bars_[0].get_hatch() is None
    matplotlib.pyplot.close("all")


def test_vcregica_certificate_none_below_50_rows():
    X = np.random.default_rng(0).laplace(size=(40, 2))
    assert VCRegICA(random_state=0).fit(X).certificate_ is None


def test_vcregica_certificate_with_dask_input():
    da = pytest.importorskip("dask.array")
    X, _, _ = make_ica_mixture(["b", "j"], n_samples=2000, random_state=0)
    ica = VCRegICA(random_state=0).fit(da.from_array(X, chunks=(500, 2)))
    _assert_same(
        ica.certificate_,
        separation_certificate(X, ica.components_, test=False, random_state=0),
    )


def _flagged_certificate():
    rng = np.random.default_rng(0)
    S = np.c_[rng.standard_normal((3000, 2)), rng.laplace(size=(3000, 4))]
    unmixing = np.eye(6)
    unmixing[2:4, 2:4] = _rotation(0.4)
    return separation_certificate(S, unmixing, random_state=0)


def test_display_colours_follow_the_flags():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skvcreg.plotting import SeparationCertificateDisplay

    cert = _flagged_certificate()
    display = SeparationCertificateDisplay.from_certificate(
        cert, component_names=list("abcdef")
    )
    assert display.colors_ == ["non_identifiable"] * 2 + ["dependent"] * 2 + ["ok"] * 2
    heights = [bar.get_y() + bar.get_height() for bar in display.bars_]
    assert_allclose(heights, cert.interference_db)
    labels = [t.get_text() for t in display.ax_.get_xticklabels()]
    assert labels == list("abcdef")
    legend = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert legend == [
        "separated",
        "non-identifiable pair",
        "still dependent (unfinished)",
        "drift (first vs second half)",
    ]
    # The drift ticks stand at drift_db, inside the axes.
    x, y = display.drift_.get_data()
    marked = np.isfinite(cert.drift_db)
    assert_array_equal(x, np.flatnonzero(marked))
    assert_allclose(y, cert.drift_db[marked])
    assert marked.all()
    low, high = display.ax_.get_ylim()
    assert low < y.min() and high > y.max()
    plain = SeparationCertificateDisplay.from_certificate(cert, drift=False)
    assert plain.drift_ is None
    legend = [t.get_text() for t in plain.ax_.get_legend().get_texts()]
    assert "drift (first vs second half)" not in legend
    matplotlib.pyplot.close("all")


def test_display_infinite_interference_and_many_components():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skvcreg.plotting import SeparationCertificateDisplay

    m = 128
    db = np.full(m, -30.0)
    db[:2] = np.inf
    flags = np.zeros((m, m), dtype=bool)
    flags[0, 1] = flags[1, 0] = True
    cert = SeparationCertificate(
        fisher_information=np.ones(m),
        gain_sd=np.zeros((m, m)),
        interference=10 ** (db / 10),
        interference_db=db,
        non_identifiable=flags,
        gaussian_pvalues=np.where(flags, 1.0, 0.0),
        pvalues=None,
        dependent=None,
        n_samples=1000,
        n_rows=1000,
        max_sd=0.1,
        level=0.01,
        correction=None,
    )
    display = SeparationCertificateDisplay(cert).plot()
    assert display.drift_ is None  # a certificate built without drift
    assert display.bars_[0].get_hatch() == "//"
    assert display.bars_[2].get_hatch() is None
    top = display.ax_.get_ylim()[1]
    assert display.bars_[0].get_y() + display.bars_[0].get_height() == top
    # Every 4th of 128 components labelled.
    assert len(display.ax_.get_xticklabels()) == 32
    matplotlib.pyplot.close("all")


def test_display_from_estimator_and_errors():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.decomposition import FastICA

    from skvcreg.plotting import SeparationCertificateDisplay

    X, _, _ = make_ica_mixture(["b", "b", "c"], n_samples=2000, random_state=0)
    ica = FastICA(whiten="unit-variance", random_state=0).fit(X)
    display = SeparationCertificateDisplay.from_estimator(ica, X, random_state=0)
    labels = [t.get_text() for t in display.ax_.get_xticklabels()]
    assert labels == ["fastica0", "fastica1", "fastica2"]
    _assert_same(
        display.certificate,
        separation_certificate(X, ica.components_, random_state=0),
    )
    with pytest.raises(ValueError, match="3 components but 2 component_names"):
        SeparationCertificateDisplay(
            display.certificate, component_names=["a", "b"]
        ).plot()
    with pytest.raises(TypeError, match="must be a SeparationCertificate"):
        SeparationCertificateDisplay(np.zeros(3)).plot()
    matplotlib.pyplot.close("all")


def test_drift_is_the_difference_of_the_halves_newton_steps():
    # The drift against a direct computation: the refinement's score fit on
    # all the rows (its own pieces, with its knot and ridge rules), each
    # half's 2x2 Newton steps solved one pair at a time.
    from skvcreg._scores import (
        _bucket_sums,
        _buckets,
        _fit_scores,
        _knots,
        _scores,
        score_fit_rules,
    )

    X, _, A = make_ica_mixture(["b", "c", "k", "d"], n_samples=3000, random_state=2)
    W = np.linalg.inv(A) @ _rotation_4(0.05)
    cert = separation_certificate(X, W, test=False)
    Y = W @ (X - X.mean(axis=0)).T
    Y -= Y.mean(axis=1, keepdims=True)
    Z = torch.from_numpy(Y / np.sqrt((Y**2).mean(axis=1, keepdims=True)))
    n_knots, ridge = score_fit_rules(3000)
    knots = _knots(Z, n_knots)
    index = _buckets(Z, knots)
    slopes, intercepts, k = _fit_scores(
        _bucket_sums(Z, index, n_knots + 1), knots, ridge
    )
    phi = _scores(Z, knots, slopes, intercepts, index).numpy()
    Z, k = Z.numpy(), np.maximum(k.numpy(), 1.0)
    steps = []
    for part in (slice(None, 1500), slice(1500, None)):
        E = np.zeros((4, 4))
        for i in range(4):
            for j in range(4):
                if i != j:
                    G = [
                        np.mean(phi[a, part] * Z[b, part]) for a, b in ((i, j), (j, i))
                    ]
                    E[i, j] = np.linalg.solve([[k[i], 1.0], [1.0, k[j]]], G)[0]
        steps.append(E)
    D = steps[0] - steps[1]
    assert not cert.non_identifiable.any()
    assert_allclose(cert.drift, 0.25 * (D**2).sum(axis=1), rtol=1e-8)
    assert_allclose(cert.drift_db, 10 * np.log10(cert.drift))


def _rotation_4(angle):
    R = np.eye(4)
    R[:2, :2] = _rotation(angle)
    return R


def test_drift_flags_the_component_that_changes_between_halves():
    # Stationary rows: the ratio is about 1 (mean over mixtures and
    # components). A mixture whose third source reaches the channels
    # through another map in the second half: the component that picks it up
    # there (the first, with the first half's unmixing) drifts, by about
    # (0.3 / 2)^2 of its variance, and the others do not.
    ratios = []
    for seed in range(6):
        X, _, A = make_ica_mixture(8, n_samples=20_000, random_state=seed)
        ratios.append(
            separation_certificate(X, np.linalg.inv(A), test=False).drift_ratio
        )
    assert 0.8 < np.nanmean(ratios) < 1.25
    _, S, A = make_ica_mixture(["b", "c", "k", "d"], n_samples=40_000, random_state=0)
    drifted = A.copy()
    drifted[:, 2] += 0.3 * A[:, 0]
    X = np.vstack([S[:20_000] @ A.T, S[20_000:] @ drifted.T])
    cert = separation_certificate(X, np.linalg.inv(A), test=False)
    assert cert.drift_ratio[0] > 30
    assert np.all(cert.drift_ratio[1:] < 5)
    assert 0.5 * 0.15**2 < cert.drift[0] < 1.5 * 0.15**2
    # The same rows in random order: no drift left to see.
    shuffled = X[np.random.default_rng(0).permutation(len(X))]
    cert = separation_certificate(shuffled, np.linalg.inv(A), test=False)
    assert cert.drift_ratio[0] < 5


def test_separation_stability_sees_the_gaussian_pair():
    from sklearn.decomposition import FastICA

    from skvcreg.metrics import separation_stability

    X, S, A = make_ica_mixture(
        ["b", "b", "c", "gaussian", "gaussian"], n_samples=6000, random_state=0
    )
    ica = FastICA(whiten="unit-variance", random_state=0).fit(X)
    stability = separation_stability(ica, X)
    assert stability.shape == (5,)
    assert np.all((stability >= 0) & (stability <= 1 + 1e-12))
    # The two Gaussian components (matched by their correlation with the
    # Gaussian sources) are the two least stable ones, and the certificate
    # flags their pair.
    match = match_sources(S, ica.transform(X))
    gaussian = match.permutation[3:]
    assert set(np.argsort(stability)[:2]) == set(gaussian)
    assert np.all(np.delete(stability, gaussian) > 0.99)
    cert = separation_certificate(X, ica.components_, test=False)
    assert cert.non_identifiable[gaussian[0], gaussian[1]]
    # An unfitted estimator is fitted on X first: same reference here.
    unfitted = FastICA(whiten="unit-variance", random_state=0)
    assert_allclose(separation_stability(unfitted, X), stability)


def test_separation_stability_random_split_sees_sampling_not_drift():
    # A recording whose mixing drifts: the second half sees the third source
    # through another map. Contiguous halves are fitted to two different
    # mixings, so that source's component changes between them; rows dealt
    # out at random give two samples of the same data, and every component
    # is as stable as its estimate is precise.
    from sklearn.decomposition import FastICA

    from skvcreg.metrics import separation_stability

    _, S, A = make_ica_mixture(["b", "c", "k"], n_samples=8000, random_state=0)
    drifted = A.copy()
    drifted[:, 2] = A[:, 2] + 2.0 * A[:, 0]
    X = np.vstack([S[:4000] @ A.T, S[4000:] @ drifted.T])
    ica = FastICA(whiten="unit-variance", random_state=0).fit(X)
    contiguous = separation_stability(ica, X)
    random = separation_stability(ica, X, split="random", random_state=0)
    assert random.min() > 0.99
    assert contiguous.min() < 0.9
    # Same random_state, same parts; another deals other rows.
    assert_array_equal(
        separation_stability(ica, X, split="random", random_state=0), random
    )
    other = separation_stability(ica, X, split="random", random_state=1)
    assert not np.array_equal(other, random)


def test_separation_stability_random_split_on_dask_equals_numpy():
    da = pytest.importorskip("dask.array")
    from sklearn.decomposition import FastICA

    from skvcreg.metrics import separation_stability

    X, _, _ = make_ica_mixture(["b", "c", "k"], n_samples=3000, random_state=1)
    ica = FastICA(whiten="unit-variance", random_state=0).fit(X)
    expected = separation_stability(ica, X, split="random", random_state=0)
    lazy = separation_stability(
        ica, da.from_array(X, chunks=700), split="random", random_state=0
    )
    assert_allclose(lazy, expected, rtol=1e-10)


def test_separation_stability_errors():
    from skvcreg.metrics import separation_stability

    X = np.random.default_rng(0).laplace(size=(120, 2))
    with pytest.raises(ValueError, match="too few for 3 blocks"):
        separation_stability(VCRegICA(), X, n_splits=3)
    with pytest.raises(ValueError, match="'estimator' parameter"):
        separation_stability(np.eye(2), X)
    with pytest.raises(ValueError, match="'split' parameter"):
        separation_stability(VCRegICA(), X, split="interleaved")
