"""skvcreg.mne: VCRegICA fitted through MNE-Python on a real EEG recording.

The recording is the 31-channel EEG of the ``alice-ml`` wheel (10-20 montage,
500 Hz, band-passed 3-40 Hz, blinks on Fp1/Fpz/Fp2), cropped to keep the fits
short.
"""

import sys
import warnings
from importlib.resources import files

import numpy as np
import pytest
from numpy.testing import assert_allclose

mne = pytest.importorskip("mne")

from skvcreg import VCRegICA  # noqa: E402
from skvcreg.datasets import make_ica_mixture  # noqa: E402
from skvcreg.mne import fit_ica, vcreg_ica  # noqa: E402


def _read_recording(seconds):
    fname = files("alice_ml") / "data" / "test_raw.fif"
    raw = mne.io.read_raw_fif(fname, preload=True, verbose="error")
    return raw.crop(0, seconds)


@pytest.fixture(scope="module")
def raw():
    return _read_recording(20.0)


@pytest.fixture(scope="module")
def ica(raw):
    return fit_ica(raw, n_components=15, random_state=0, verbose="error")


def _mne_white_data(ica, inst_data):
    """MNE's PCA-whitened data, by a direct numpy computation from the fitted
    ICA's pre-whitening and PCA attributes."""
    n = ica.n_components_
    data = inst_data / ica.pre_whitener_ - ica.pca_mean_[:, None]
    scores = ica.pca_components_[:n] @ data
    return scores / np.sqrt(ica.pca_explained_variance_[:n])[:, None]


def test_fitted_ica_is_mne_object_with_vcreg_method(ica, raw):
    assert isinstance(ica, mne.preprocessing.ICA)
    assert type(ica) is mne.preprocessing.ICA
    assert ica.method == "vcreg" and ica.current_fit == "raw"
    assert ica.n_components_ == 15 and ica.pca_components_.shape == (31, 31)
    assert ica.n_samples_ == raw.n_times and ica.n_iter_ > 0
    assert ica.ch_names == raw.ch_names
    # MNE's pre-whitening of one channel type: the standard deviation of all
    # EEG data together.
    assert_allclose(ica.pre_whitener_, np.std(raw.get_data()), rtol=1e-12)


def test_get_sources_are_vcreg_sources_of_mne_white_data(ica, raw):
    Z = _mne_white_data(ica, raw.get_data(picks=ica.ch_names))
    estimator = VCRegICA(whiten=False, random_state=0).fit(Z.T)
    expected = estimator.transform(Z.T).T
    sources = ica.get_sources(raw).get_data()
    # MNE orders the components by the variance they explain in channel space
    # (after its pre-whitening); VCRegICA by the variance of Z: the same
    # components, up to that permutation, with the same signs.
    match = np.abs(np.corrcoef(sources, expected)[:15, 15:])
    order = match.argmax(axis=1)
    assert sorted(order) == list(range(15))
    assert_allclose(sources, expected[order], atol=1e-6)


def test_sources_are_sorted_by_mne_explained_variance(ica, raw):
    sources = ica.get_sources(raw).get_data()
    variance = np.sum(ica.mixing_matrix_**2, axis=0) * np.sum(sources**2, axis=1)
    assert np.all(np.diff(variance) <= 0)


def test_apply_with_nothing_excluded_returns_the_recording(ica, raw):
    restored = ica.apply(raw.copy(), exclude=[], verbose="error").get_data()
    data = raw.get_data()
    assert np.max(np.abs(restored - data)) <= 1e-6 * np.max(np.abs(data))


def test_save_and_read_ica_preserve_the_unmixing(ica, raw, tmp_path):
    fname = tmp_path / "vcreg-ica.fif"
    ica.save(fname, verbose="error")
    loaded = mne.preprocessing.read_ica(fname, verbose="error")
    assert np.array_equal(loaded.unmixing_matrix_, ica.unmixing_matrix_)
    assert np.array_equal(loaded.pca_components_, ica.pca_components_)
    assert loaded.method == "vcreg" and loaded.n_iter_ == ica.n_iter_
    assert_allclose(loaded.get_sources(raw).get_data(), ica.get_sources(raw).get_data())


def test_find_bads_eog_finds_a_frontal_blink_component(ica, raw):
    indices, scores = ica.find_bads_eog(raw, ch_name="Fp1", verbose="error")
    assert len(indices) >= 1
    blink = indices[0]
    assert abs(scores[blink]) > 0.8
    # Its scalp map peaks on the frontal pole, where blinks are largest.
    topography = np.abs(ica.get_components()[:, blink])
    assert ica.ch_names[int(topography.argmax())] in {"Fp1", "Fpz", "Fp2"}
    # Removing it takes most of the blink power off Fp1 (the channel carries
    # blinks and brain activity; the blinks dominate its low frequencies).
    cleaned = ica.apply(raw.copy(), exclude=[blink], verbose="error")
    fp1 = raw.ch_names.index("Fp1")
    before = raw.get_data()[fp1].var()
    assert cleaned.get_data()[fp1].var() < 0.5 * before


def test_find_bads_ecg_scores_every_component(ica, raw):
    # The recording has no ECG channel and no visible heartbeat: this checks
    # that MNE's search runs on the fitted object, not that it finds one.
    indices, scores = ica.find_bads_ecg(raw, ch_name="Oz", method="ctps")
    assert len(scores) == ica.n_components_ and np.all(np.isfinite(scores))
    assert set(indices) <= set(range(ica.n_components_))


def test_mne_plots_draw(ica, raw):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = ica.plot_components(picks=[0, 1], show=False)
    figures = figures if isinstance(figures, list) else [figures]
    browser = ica.plot_sources(raw, picks=[0, 1], show=False)
    assert figures and browser is not None
    plt.close("all")


def _assert_fit_at_rank(ica, raw, rank):
    assert ica.n_components_ == rank
    # No component blown up: every source is unit-variance and every mixing
    # column of the order of the channels' own scale.
    sources = ica.get_sources(raw).get_data()
    assert_allclose(sources.std(axis=1), 1.0, atol=0.05)
    norms = np.linalg.norm(ica.get_components(), axis=0)
    assert norms.max() < 10 * np.median(norms)
    data = raw.get_data()
    restored = ica.apply(raw.copy(), exclude=[], verbose="error").get_data()
    assert np.max(np.abs(restored - data)) <= 1e-6 * np.max(np.abs(data))


def test_average_reference_fits_at_rank_30_with_one_message():
    raw = _read_recording(10.0)
    raw.set_eeg_reference("average", verbose="error")
    match = r"31 channels have numerical rank 30 \(an EEG reference"
    with pytest.warns(UserWarning, match=match) as record:
        # Every other sample keeps the test short; the rank is the same.
        ica = fit_ica(raw, n_components=31, decim=2, random_state=0, verbose="error")
    assert len(record) == 1
    assert "fits 30 components, not the 31 requested" in str(record[0].message)
    _assert_fit_at_rank(ica, raw, 30)


def test_projectors_lower_the_rank_with_one_message():
    raw = _read_recording(10.0).pick(["Fp1", "Fp2", "F3", "F4", "C3", "C4", "Cz"])
    raw.set_eeg_reference("average", projection=True, verbose="error")
    raw.apply_proj(verbose="error")
    match = r"7 channels have numerical rank 6 \(1 active projector vector\)"
    with pytest.warns(UserWarning, match=match) as record:
        ica = fit_ica(raw, n_components=7, random_state=0, verbose="error")
    assert len(record) == 1
    _assert_fit_at_rank(ica, raw, 6)


def test_rank_one_is_an_error():
    rng = np.random.default_rng(0)
    signal = rng.laplace(size=1000) * 1e-5
    info = mne.create_info(["C3", "Cz", "C4"], sfreq=100.0, ch_types="eeg")
    raw = mne.io.RawArray(np.outer([1.0, 2.0, -1.0], signal), info, verbose="error")
    with pytest.raises(ValueError, match="numerical rank 1 .* nothing to separate"):
        fit_ica(raw, verbose="error")


def test_rank_message_is_logged_when_nothing_is_capped():
    raw = _read_recording(10.0)
    raw.set_eeg_reference("average", verbose="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with mne.utils.catch_logging() as log:
            ica = fit_ica(raw, n_components=8, random_state=0, verbose=True)
            text = log.getvalue()
    assert ica.n_components_ == 8
    assert "numerical rank 30 (an EEG reference" in text
    assert "VCRegICA fits 8 components." in text


def test_epochs_input(raw):
    epochs = mne.make_fixed_length_epochs(
        raw, duration=2.0, preload=True, verbose="error"
    )
    ica = fit_ica(epochs, n_components=8, random_state=0, verbose="error")
    assert ica.current_fit == "epochs" and ica.n_samples_ == 10 * 1000
    sources = ica.get_sources(epochs).get_data()
    assert sources.shape == (10, 8, 1000)
    restored = ica.apply(epochs.copy(), exclude=[], verbose="error").get_data()
    assert_allclose(restored, epochs.get_data(), atol=1e-6 * np.abs(restored).max())


def test_noise_covariance_pre_whitening(raw):
    short = raw.copy().crop(0, 10.0)
    cov = mne.compute_raw_covariance(short, verbose="error")
    ica = fit_ica(short, n_components=8, noise_cov=cov, random_state=0, verbose="error")
    # MNE's whitener from the covariance, not one scale per channel type.
    assert ica.pre_whitener_.shape == (31, 31)
    data = short.get_data()
    restored = ica.apply(short.copy(), exclude=[], verbose="error").get_data()
    assert np.max(np.abs(restored - data)) <= 1e-6 * np.max(np.abs(data))


def test_decim_picks_and_same_seed_same_ica(raw):
    picks = ["Fp1", "Fpz", "Fp2", "F3", "Fz", "F4", "C3", "Cz"]
    kwargs = dict(n_components=5, picks=picks, decim=4, verbose="error")
    ica = fit_ica(raw, random_state=0, **kwargs)
    assert ica.ch_names == picks
    assert ica.n_samples_ == len(range(0, raw.n_times, 4))
    assert ica.get_sources(raw).get_data().shape == (5, raw.n_times)
    again = fit_ica(raw, random_state=0, **kwargs)
    assert np.array_equal(again.unmixing_matrix_, ica.unmixing_matrix_)


def test_start_stop_and_reject_are_mne_semantics(raw):
    # The 700 uV transient at 23 s: two 2-s segments exceed the threshold.
    longer = _read_recording(40.0)
    ica = fit_ica(
        longer,
        n_components=6,
        start=15.0,
        stop=35.0,
        reject=dict(eeg=300e-6),
        random_state=0,
        verbose="error",
    )
    assert ica.reject_ == {"eeg": 300e-6}
    assert ica.drop_inds_ == [(3000, 4000), (4000, 5000)]
    assert ica.n_samples_ == 20 * 500 - 2000


def test_float_n_components_by_explained_variance(raw):
    ica = fit_ica(raw, n_components=0.9, random_state=0, verbose="error")
    ratio = ica.pca_explained_variance_ / ica.pca_explained_variance_.sum()
    cumulative = np.cumsum(ratio)
    assert cumulative[ica.n_components_ - 1] > 0.9 >= cumulative[ica.n_components_ - 2]


def test_calling_convention_matches_vcregica():
    X, _, _ = make_ica_mixture(["j", "q", "laplace"], 1500, random_state=0)
    K, W, Y, X_mean, n_iter = vcreg_ica(
        X.T, return_X_mean=True, return_n_iter=True, random_state=0
    )
    estimator = VCRegICA(random_state=0)
    S = estimator.fit_transform(X)
    assert_allclose(K, estimator.whitening_)
    assert_allclose(W @ K, estimator.components_, atol=1e-10)
    assert_allclose(Y, S.T)
    assert_allclose(Y, W @ K @ (X - X_mean).T, atol=1e-10)
    assert_allclose(X_mean, estimator.mean_)
    assert n_iter == estimator.n_iter_ + estimator.n_refine_iter_
    # whiten=False: the data are taken as white, as MNE passes them.
    Z = (X - estimator.mean_) @ estimator.whitening_.T
    K, W, Y = vcreg_ica(Z.T, whiten=False, random_state=0)
    white = VCRegICA(whiten=False, random_state=0).fit(Z)
    assert K is None
    assert_allclose(W, white.components_)
    assert_allclose(Y, W @ Z.T)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"whiten": "unit-variance"}, "whiten must be True or False"),
        ({"return_n_iter": 1.5}, "return_n_iter must be True or False"),
    ],
)
def test_calling_convention_bad_flags(kwargs, match):
    X, _, _ = make_ica_mixture(["j", "q"], 200, random_state=0)
    with pytest.raises(ValueError, match=match):
        vcreg_ica(X.T, **kwargs)


def test_fit_ica_refuses_what_mne_sets(raw):
    with pytest.raises(TypeError, match="fit_ica sets whiten itself"):
        fit_ica(raw, whiten=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        fit_ica(raw, n_components=3, bogus=1, verbose="error")


def test_fit_ica_rejects_non_finite_data(raw):
    broken = raw.copy().crop(0, 2.0)
    broken._data[3, 10] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_ica(broken, n_components=3, verbose="error")


def test_single_component_fraction_is_an_error(raw):
    with pytest.raises(ValueError, match="keeps a single PCA component"):
        fit_ica(raw, n_components=0.1, verbose="error")


def test_missing_mne_names_the_extra(raw, monkeypatch):
    monkeypatch.setitem(sys.modules, "mne", None)
    with pytest.raises(ImportError, match=r"pip install skvcreg\[mne\]"):
        fit_ica(raw)


def _fit_ica_on(threads, raw):
    """fit_ica with ``threads`` torch and BLAS threads (the count restored)."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            return fit_ica(raw, random_state=0, verbose="error")
    finally:
        torch.set_num_threads(before)


def test_same_ica_on_one_and_two_threads():
    # The whole recording, every PCA component: the refinement, where the
    # likelihood is nearly flat, grew the last-place differences of a
    # threaded BLAS in MNE's PCA into a different unmixing (0.5 relative).
    raw = _read_recording(None)
    one, two = _fit_ica_on(1, raw), _fit_ica_on(2, raw)
    scale = np.abs(one.unmixing_matrix_).max()
    assert_allclose(two.unmixing_matrix_, one.unmixing_matrix_, atol=1e-9 * scale)
    assert_allclose(two.pca_components_, one.pca_components_, atol=1e-12)
