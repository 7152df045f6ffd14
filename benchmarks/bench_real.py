"""VCRegICA against the EEG field's ICA methods on real recordings, in one process.

Every method fits the same PCA-whitened data (the whitening fitted on the rows
the method sees, kept at the data's numerical rank) and returns an unmixing of
the white rows: VCRegICA, scikit-learn's FastICA, Picard in its extended Infomax
mode (``ortho=False``, as MNE-Python's ``method="picard"``), Picard-O
(``ortho=True``), MNE-Python's extended Infomax (``mne.preprocessing.infomax``)
and AMICA (``jamica.amica`` with its defaults: 3 generalised Gaussians per
source, 2000 EM iterations), each with default settings, as a new user would.

Measures, all computed here:

- **MIR**, mutual information reduction in bits per sample,
  ``sum_i H(x_i) - sum_i H(s_i) + log2|det W|``, with one 1-D entropy estimator
  for every method (``scipy.stats.differential_entropy``, whose default for
  these sample sizes is Vasicek's spacing estimator). ``x`` are the channels
  (full-rank recordings) or the principal components at the numerical rank
  (rank-deficient ones), ``W`` the unmixing of ``x``. *In sample*: fitted and
  measured on the whole recording. *Held out*: fitted on one half (in time),
  measured on the other, both ways, averaged. ``PCA`` is the whitening alone.
- **Split-half reliability**: the scalp maps (mixing columns, in channel space)
  fitted on each half, matched by the Hungarian algorithm on their absolute
  correlation; the mean and 10th percentile of the matched correlations.
- **Injected sources**: a blink-like (smooth positive pulses), a heartbeat-like
  (sharp biphasic complexes and a T wave) and an alpha-like (11 Hz bursts)
  source with smooth maps of known shape (frontal, a left-right dipole,
  parieto-occipital) added to the recording, *weak* (peak on the map's strongest
  channel 2, 1 and 0.5 times the median channel standard deviation) and
  *strong* (10 times that). For each source, the component whose time course
  correlates best with it: the absolute correlation of its time course and of
  its map with the truth, averaged over the three (and the time courses' one
  by one after the table, beside the in-sample MIR of the recording with the
  sources: a method's fits of one draw that recover them differently can be
  ranked by their likelihood). ``--seed`` draws the sources, ``--random-state``
  the methods' random states (by default the same number), so that one draw
  can be fitted with several. ``best filter`` is the
  correlation of each source with its least-squares fit from all channels,
  the most any unmixing can reach.
- **Blink removal, as a user does it**: the component whose time course
  (band-passed 1-10 Hz) correlates best with the EOG (``EOG 061``) or, without
  one, the mean of the three most anterior channels (as
  ``ICA.find_bads_eog`` ranks components), is removed; blinks are the peaks of
  the band-passed EOG above 4 robust standard deviations. ``blink left``: the
  power of the blink-locked average (+-0.3 s) on the three most anterior
  channels (for the MEG, whose most anterior sensors see little of the
  blinks' field, the three whose blink-locked average has the most power
  relative to their variance) after removal, in % of before. ``rest lost``:
  the energy removed from the recording outside +-0.5 s of every blink, in %
  of its energy there.
- **Fit time** of the fit on the whole recording (the whitening excluded).

Recordings (``--recording``):

- ``alice``: the 31-channel EEG of the ``alice-ml==0.3.9`` wheel
  (``alice_ml/data/test_raw.fif``; 60,001 samples at 500 Hz, band-passed 3-40
  Hz, full rank), in microvolts.
- ``mne-eeg``, ``mne-meg``: MNE-Python's test recording, shipped in the
  ``eeglabio==0.1.4`` source distribution (``eeglabio/tests/data/test_raw.fif``;
  14,400 samples at 600 Hz). ``mne-eeg``: its 60 EEG channels, average
  referenced (rank 59). ``mne-meg``: its 306 MEG channels with the three SSP
  projectors applied (rank 303), each channel type scaled by its standard
  deviation (MNE's pre-whitening without a noise covariance). Pass the file
  with ``--mne-raw``::

      pip download --no-deps --no-binary :all: eeglabio==0.1.4 -d /tmp/eeglabio
      tar xzf /tmp/eeglabio/eeglabio-0.1.4.tar.gz -C /tmp/eeglabio

Installing the peers in a separate environment (jamica and JAX beside torch
2.13; pip keeps torch 2.13 and installs jax and jaxlib for the CPU)::

    python -m venv /path/venv-bench && . /path/venv-bench/bin/activate
    pip install torch==2.13.0
    pip install -e ".[benchmark]"   # python-picard, mne, alice-ml, jamica
    pip install "jax[cpu]"          # optional: without it jamica runs on NumPy

Run ``python benchmarks/bench_real.py --help`` for the options. The figures on the
benchmarks page come from the commands below, every library on one thread
(``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` and
``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"``
for JAX), so that a loaded machine slows every method alike; AMICA's 2000 EM
iterations take minutes per fit (``--amica-max-iter`` to budget them, said next
to the figures)::

    python benchmarks/bench_real.py --recording alice
    python benchmarks/bench_real.py --recording mne-eeg --mne-raw FILE
    python benchmarks/bench_real.py --recording mne-meg --mne-raw FILE
    python benchmarks/bench_real.py --recording alice --methods VCRegICA --seed S
    python benchmarks/bench_real.py --recording alice \
        --methods AMICA,VCRegICA-from-AMICA --seed S

The last (VCRegICA started from AMICA's unmixing) shows whether VCRegICA's fit
keeps AMICA's solution; ``VCRegICA-white`` starts it from the whitening. The fit
time against Picard, the median of five fits of the whole recording each::

    python benchmarks/bench_real.py --recording alice --methods VCRegICA,Picard \
        --repeat 5 --seed S

How much one method's result moves with its own random state on one draw of the
injected sources::

    for R in 0 1 2 3 4 5 6 7; do
        python benchmarks/bench_real.py --recording alice --methods VCRegICA \
            --seed S --random-state $R
    done
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
import scipy
import sklearn
import torch
from scipy import signal, stats
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import FastICA

import skvcreg
from skvcreg import VCRegICA

try:
    from picard import picard
except ImportError:  # python-picard is a benchmark extra
    picard = None
try:
    import mne
except ImportError:  # mne is a benchmark extra
    mne = None
try:
    import jamica
except ImportError:  # jamica is a benchmark extra
    jamica = None


# --- the methods: white rows (n_samples, r) in, unmixing (r, r) of them out ---


def _fit_vcreg(Z, seed, options):
    return VCRegICA(whiten=False, device="cpu", random_state=seed).fit(Z).components_


def _fit_vcreg_white(Z, seed, options):
    """VCRegICA started from the PCA whitening instead of FastICA."""
    start = np.eye(Z.shape[1])
    ica = VCRegICA(whiten=False, device="cpu", random_state=seed, w_init=start)
    return ica.fit(Z).components_


def _fit_fastica(Z, seed, options):
    return FastICA(whiten=False, random_state=seed).fit(Z).components_


def _fit_picard(Z, seed, options):
    return picard(Z.T, whiten=False, ortho=False, extended=True, random_state=seed)[1]


def _fit_picard_ortho(Z, seed, options):
    return picard(Z.T, whiten=False, ortho=True, extended=True, random_state=seed)[1]


def _fit_infomax(Z, seed, options):
    return mne.preprocessing.infomax(Z, extended=True, rng=seed, verbose=False)


def _fit_amica(Z, seed, options):
    _, W, _ = jamica.amica(
        Z.T, whiten=False, random_state=seed, max_iter=options["amica_max_iter"]
    )
    return W


def _fit_vcreg_from_amica(Z, seed, options):
    """VCRegICA started from AMICA's unmixing (rows at unit norm): whether
    VCRegICA's fit keeps AMICA's solution or moves away from it."""
    start = np.asarray(_fit_amica(Z, seed, options))
    start = start / np.linalg.norm(start, axis=1, keepdims=True)
    ica = VCRegICA(whiten=False, device="cpu", random_state=seed, w_init=start)
    return ica.fit(Z).components_


def _methods():
    methods = {"VCRegICA": _fit_vcreg, "FastICA": _fit_fastica}
    # Not in the default list: the start's effect on the 31-channel EEG.
    methods["VCRegICA-white"] = _fit_vcreg_white
    if picard is not None:
        methods["Picard"] = _fit_picard
        methods["Picard-O"] = _fit_picard_ortho
    if mne is not None:
        methods["Infomax"] = _fit_infomax
    if jamica is not None:
        methods["AMICA"] = _fit_amica
        # Not in the default list: AMICA's fit and then VCRegICA's.
        methods["VCRegICA-from-AMICA"] = _fit_vcreg_from_amica
    return methods


# --- the recordings ---


def _anterior(positions, k=3):
    """Indices of the ``k`` channels farthest forward (largest y, the nose)."""
    return np.argsort(positions[:, 1])[::-1][:k]


def _blink_channels(X, eog, sfreq, k=3):
    """Indices of the ``k`` channels where the blinks show most: the largest
    blink-locked average (ERP) power over the channel's variance."""
    _, peaks = _blinks(eog, sfreq)
    half = int(0.3 * sfreq)
    peaks = peaks[(peaks >= half) & (peaks < len(X) - half)]
    Xc = X - X.mean(axis=0)
    average = np.stack([Xc[p - half : p + half] for p in peaks]).mean(axis=0)
    power = np.sum((average - average.mean(axis=0)) ** 2, axis=0)
    return np.argsort(power / np.sum(Xc**2, axis=0))[::-1][:k]


def _load(args):
    """``(X, positions, eog, label)``: the recording (n_samples, n_channels),
    the channels' positions (head coordinates), the EOG trace or ``None``."""
    if args.recording == "alice":
        import alice_ml

        path = os.path.join(os.path.dirname(alice_ml.__file__), "data", "test_raw.fif")
        raw = mne.io.read_raw_fif(path, preload=True, verbose=False).pick("eeg")
        X = raw.get_data().T * 1e6
        eog = None
        label = "alice-ml 31-channel EEG (uV)"
    else:
        if args.mne_raw is None:
            raise SystemExit("--mne-raw FILE is needed for the MNE test recording")
        raw = mne.io.read_raw_fif(args.mne_raw, preload=True, verbose=False)
        eog = raw.copy().pick("eog").get_data()[0]
        if args.recording == "mne-eeg":
            raw.pick("eeg", exclude="bads").set_eeg_reference("average", verbose=False)
            X = raw.get_data().T * 1e6
            label = "MNE test recording, 60 EEG, average reference (uV)"
        else:
            raw.pick("meg", exclude="bads").apply_proj(verbose=False)
            X = raw.get_data().T
            for kind in ("grad", "mag"):
                picks = mne.pick_types(raw.info, meg=kind)
                X[:, picks] /= X[:, picks].std()
            label = "MNE test recording, 306 MEG, 3 SSP projectors (per-type std)"
    positions = np.array([ch["loc"][:3] for ch in raw.info["chs"]])
    return X, positions, eog, label, raw.info["sfreq"]


def _rank_basis(X):
    """The principal axes of ``X`` at its numerical rank (rank x n_channels),
    or ``None`` when the rank is full."""
    rank = np.linalg.matrix_rank(X - X.mean(axis=0))
    if rank == X.shape[1]:
        return None
    _, _, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    return Vt[:rank]


# --- the measures ---


def _whitening(X):
    """Mean and PCA whitening ``K`` of ``X`` (full rank): ``Z = (X - m) K^T``."""
    mean = X.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(X, rowvar=False))
    return mean, (vectors / np.sqrt(values)).T


def _fit(fit, X, seed, options):
    """The unmixing of ``X`` (whitening included), the fit time, the warnings."""
    mean, K = _whitening(X)
    Z = (X - mean) @ K.T
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        W = fit(Z, seed, options)
        elapsed = time.perf_counter() - start
    return np.asarray(W) @ K, elapsed, len(caught)


def _entropies(X):
    return stats.differential_entropy(X, axis=0)


def _mir(X, U, h_x=None):
    """MIR of the unmixing ``U`` on ``X`` in bits per sample."""
    h_x = _entropies(X) if h_x is None else h_x
    h_s = _entropies((X - X.mean(axis=0)) @ U.T)
    return (h_x.sum() - h_s.sum() + np.linalg.slogdet(U)[1]) / np.log(2)


def _maps(U, basis):
    """Scalp maps (n_channels, n_components) of the unmixing ``U``."""
    A = np.linalg.inv(U)
    return A if basis is None else basis.T @ A


def _abs_corr(A, B):
    """Absolute correlation of the columns of ``A`` with those of ``B``."""
    A = (A - A.mean(axis=0)) / np.linalg.norm(A - A.mean(axis=0), axis=0)
    B = (B - B.mean(axis=0)) / np.linalg.norm(B - B.mean(axis=0), axis=0)
    return np.abs(A.T @ B)


def _split_half(maps_a, maps_b):
    C = _abs_corr(maps_a, maps_b)
    rows, cols = linear_sum_assignment(-C)
    matched = C[rows, cols]
    return matched.mean(), np.percentile(matched, 10)


def _band(x, sfreq, low=1.0, high=10.0):
    sos = signal.butter(4, [low, high], btype="band", fs=sfreq, output="sos")
    return signal.sosfiltfilt(sos, x, axis=0)


def _pulse_train(n, sfreq, rate, rng, refractory):
    """Random event times (samples) at ``rate`` per second, at least
    ``refractory`` seconds apart."""
    gaps = refractory + rng.exponential(1.0 / rate, size=int(3 * rate * n / sfreq) + 2)
    times = (np.cumsum(gaps) * sfreq).astype(int)
    return times[times < n]


def _injected_sources(n, sfreq, rng):
    """Blink-, heartbeat- and alpha-like time courses (n, 3), peak |s| = 1."""
    t = np.arange(n) / sfreq
    blink = np.zeros(n)
    for onset in _pulse_train(n, sfreq, 0.25, rng, 1.0):
        width = rng.uniform(0.05, 0.08)
        blink += rng.uniform(0.6, 1.0) * np.exp(-0.5 * ((t - t[onset]) / width) ** 2)
    heart = np.zeros(n)
    period = 1 / rng.uniform(1.0, 1.3)
    for beat in np.arange(rng.uniform(0, period), t[-1], period):
        beat += rng.normal(0, 0.03 * period)
        u = t - beat
        heart += -u / 0.012 * np.exp(0.5 - 0.5 * (u / 0.012) ** 2)  # QRS
        heart += 0.3 * np.exp(-0.5 * ((u - 0.25) / 0.04) ** 2)  # T wave
    sos = signal.butter(2, 0.5, fs=sfreq, output="sos")
    envelope = np.abs(signal.sosfiltfilt(sos, rng.standard_normal(n)))
    alpha = envelope * np.sin(2 * np.pi * 11.0 * t + rng.uniform(0, 2 * np.pi))
    S = np.stack([blink, heart, alpha], axis=1)
    return S / np.abs(S).max(axis=0)


def _injected_maps(positions):
    """Frontal, left-right dipolar and parieto-occipital maps (n_channels, 3),
    peak |a| = 1."""
    centre = positions.mean(axis=0)
    P = positions - centre
    radius = np.median(np.linalg.norm(P, axis=1))
    front = P[:, 1].max() * np.array([0.0, 1.0, 0.0])
    back = np.array([0.4 * radius, -radius, 0.3 * radius])

    def bump(c, width):
        return np.exp(-0.5 * np.sum((P - c) ** 2, axis=1) / (width * radius) ** 2)

    dipole = P @ np.array([1.0, 0.3, -0.5]) / radius
    A = np.stack([bump(front, 0.45), dipole, bump(back, 0.5)], axis=1)
    return A / np.abs(A).max(axis=0)


def _inject(X, positions, sfreq, strength, seed):
    """``X`` plus the three sources at the given strength; their time courses
    and maps."""
    rng = np.random.default_rng(seed)
    S = _injected_sources(len(X), sfreq, rng)
    A = _injected_maps(positions)
    scale = strength * np.array([2.0, 1.0, 0.5]) * np.median(X.std(axis=0))
    return X + (S * scale) @ A.T, S, A


def _recovery(U, X, basis, S, A):
    """Mean absolute correlation of each source's time course and map with
    those of its best-matching component, and the time courses' one by one."""
    Y = (X - X.mean(axis=0)) @ U.T
    C = _abs_corr(S, Y)
    best = C.argmax(axis=1)
    maps = _maps(U, basis)[:, best]
    map_corr = np.diag(_abs_corr(A, maps))
    return C.max(axis=1).mean(), map_corr.mean(), C.max(axis=1)


def _best_filter(Xr, S):
    """Correlation of each source with its least-squares fit from ``Xr``."""
    Xc = Xr - Xr.mean(axis=0)
    fitted = Xc @ np.linalg.lstsq(Xc, S - S.mean(axis=0), rcond=None)[0]
    return np.diag(_abs_corr(S, fitted)).mean()


def _blinks(eog, sfreq):
    """Filtered EOG and the blink peaks (samples)."""
    filtered = _band(eog, sfreq)
    median = np.median(filtered)
    spread = 1.4826 * np.median(np.abs(filtered - median))
    sign = 1.0 if filtered.max() - median >= median - filtered.min() else -1.0
    peaks, _ = signal.find_peaks(
        sign * (filtered - median), height=4 * spread, distance=int(0.5 * sfreq)
    )
    return filtered, peaks


def _removal(U, X, basis, eog, sfreq, frontal):
    """Blink left on the frontal channels and rest lost (both %) after removing
    the component that correlates best with the EOG."""
    eog_filtered, peaks = _blinks(eog, sfreq)
    Xc = X - X.mean(axis=0)
    Xr = Xc if basis is None else Xc @ basis.T
    Y = Xr @ U.T
    j = _abs_corr(_band(Y, sfreq), eog_filtered[:, None])[:, 0].argmax()
    removed = np.outer(Y[:, j], _maps(U, basis)[:, j])
    half = int(0.3 * sfreq)
    peaks = peaks[(peaks >= half) & (peaks < len(X) - half)]

    def erp(data):
        epochs = np.stack([data[p - half : p + half, frontal] for p in peaks])
        average = epochs.mean(axis=0)
        return np.sum((average - average.mean(axis=0)) ** 2)

    outside = np.ones(len(X), dtype=bool)
    for p in peaks:
        outside[max(p - int(0.5 * sfreq), 0) : p + int(0.5 * sfreq)] = False
    left = 100 * erp(Xc - removed) / erp(Xc)
    lost = 100 * np.sum(removed[outside] ** 2) / np.sum(Xc[outside] ** 2)
    return left, lost, len(peaks)


# --- the run ---


def _print_header(args):
    versions = [
        f"skvcreg {skvcreg.__version__}",
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        f"scikit-learn {sklearn.__version__}",
    ]
    modules = {name: sys.modules.get(name) for name in ("picard", "mne", "jamica")}
    for name, module in modules.items():
        versions.append(f"{name} {getattr(module, '__version__', 'absent')}")
    if jamica is not None:
        from jamica import backend

        versions.append(f"jamica backend {'jax' if backend.HAS_JAX else 'numpy'}")
    print("# " + ", ".join(versions))
    print(
        f"# {platform.processor() or platform.machine()}, {platform.system()}, "
        f"{os.cpu_count()} CPUs; every fit on the CPU"
    )
    print(f"# {vars(args)}")


def _run(args):
    X, positions, eog, label, sfreq = _load(args)
    # The blink ERP is read on the channels farthest forward (the EEG's
    # frontal poles), or for the MEG on the sensors where it shows most.
    if args.recording == "mne-meg":
        frontal = _blink_channels(X, eog, sfreq)
    else:
        frontal = _anterior(positions)
    if eog is None:
        eog = X[:, frontal].mean(axis=1)
    basis = _rank_basis(X)
    Xr = X - X.mean(axis=0) if basis is None else (X - X.mean(axis=0)) @ basis.T
    rank = Xr.shape[1]
    print(
        f"# {label}: {X.shape[0]} samples x {X.shape[1]} channels at {sfreq:g} Hz, "
        f"numerical rank {rank}; frontal channels {frontal.tolist()}"
    )
    n = len(Xr) // 2
    halves = [Xr[:n], Xr[n : 2 * n]]
    h_full = _entropies(Xr)
    h_halves = [_entropies(h) for h in halves]
    injected = [_inject(X, positions, sfreq, s, args.seed) for s in (1.0, 10.0)]
    options = {"amica_max_iter": args.amica_max_iter}
    methods = {k: v for k, v in _methods().items() if k in args.methods.split(",")}
    rows, unmixings = {}, {}

    def measure(name, fit):
        row = {}
        U, row["time"], row["warnings"] = fit(Xr)
        # The fit time: the median of --repeat fits of the whole recording.
        more = [fit(Xr)[1] for _ in range(args.repeat - 1)]
        row["time"] = float(np.median([row["time"], *more]))
        row["in"] = _mir(Xr, U, h_full)
        U_halves = [fit(h)[0] for h in halves]
        unmixings[name] = np.stack([U, *U_halves])
        # Each direction apart: the first half holds the recording's transient.
        row["directions"] = [
            _mir(halves[1 - i], U_halves[i], h_halves[1 - i]) for i in range(2)
        ]
        row["out"] = np.mean(row["directions"])
        if name != "PCA":
            maps = [_maps(u, basis) for u in U_halves]
            row["split"] = _split_half(*maps)
            row["blink"] = _removal(U, X, basis, eog, sfreq, frontal)
            for key, (Xi, S, A) in zip(("weak", "strong"), injected, strict=True):
                Xi_r = Xi - Xi.mean(axis=0)
                Xi_r = Xi_r if basis is None else Xi_r @ basis.T
                U_injected = fit(Xi_r)[0]
                row[key] = _recovery(U_injected, Xi_r, basis, S, A)
                row[key + " MIR"] = _mir(Xi_r, U_injected)
        return row

    rows["PCA"] = measure("PCA", lambda Y: (_whitening(Y)[1], 0.0, 0))
    for name, method in methods.items():
        start = time.perf_counter()
        rows[name] = measure(
            name, lambda Y, m=method: _fit(m, Y, args.random_state, options)
        )
        print(f"#   {name} measured in {time.perf_counter() - start:.1f} s", flush=True)
        print(
            "#   "
            + _row(name, rows[name], rows.get("VCRegICA", {}).get("time", np.nan)),
            flush=True,
        )
    best = []
    for Xi, S, _ in injected:
        Xi_r = Xi - Xi.mean(axis=0)
        best.append(_best_filter(Xi_r if basis is None else Xi_r @ basis.T, S))
    _print_table(rows, best, _blinks(eog, sfreq)[1].size)
    if args.save is not None:  # unmixings of the rank-reduced rows: all, halves
        np.savez(args.save, basis=np.eye(rank) if basis is None else basis, **unmixings)


def _row(name, row, reference):
    """One method's line of the table (``reference``: VCRegICA's fit time)."""
    line = f"{name:<10} {row['out']:12.3f}  {row['in']:13.3f}"
    if name != "PCA":
        line += (
            f"  {row['split'][0]:11.3f} / {row['split'][1]:.3f}"
            f"  {row['weak'][0]:18.3f} / {row['weak'][1]:.3f}"
            f"  {row['strong'][0]:20.3f} / {row['strong'][1]:.3f}"
            f"  {row['blink'][0]:17.1f} / {row['blink'][1]:.1f}"
            f"  {row['time']:18.1f} ({row['time'] / reference:.2f}x)"
            f"  {row['warnings']}"
        )
    return line


def _print_table(rows, best, n_blinks):
    reference = rows.get("VCRegICA", {}).get("time", np.nan)
    print(
        "\nmethod     held-out MIR  in-sample MIR  split-half (mean / p10)"
        "  weak: time course / map  strong: time course / map"
        f"  blink left / rest lost (%, {n_blinks} blinks)  fit s (x VCRegICA)  warnings"
    )
    for name, row in rows.items():
        print(_row(name, row, reference))
    print(
        f"best filter{'':51}{best[0]:18.3f}{'':9}{best[1]:20.3f}"
        "  (least squares from all channels)"
    )
    print("\nheld-out MIR by direction: fitted on the first half / on the second")
    for name, row in rows.items():
        print(f"{name:<10} {row['directions'][0]:12.3f} / {row['directions'][1]:.3f}")
    print(
        "\ninjected time courses one by one (blink / heartbeat / alpha), and the"
        " in-sample MIR of the recording with them"
    )
    print(f"{'':10} {'weak':>23}  {'MIR':>8}  {'strong':>23}  {'MIR':>8}")
    for name, row in rows.items():
        if name != "PCA":
            weak, strong = (
                "{:.3f} / {:.3f} / {:.3f}".format(*row[k][2])
                for k in ("weak", "strong")
            )
            print(
                f"{name:<10} {weak:>23}  {row['weak MIR']:8.3f}  {strong:>23}"
                f"  {row['strong MIR']:8.3f}"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--recording", choices=["alice", "mne-eeg", "mne-meg"], default="alice"
    )
    parser.add_argument(
        "--mne-raw", default=None, help="eeglabio/tests/data/test_raw.fif"
    )
    parser.add_argument(
        "--methods",
        default="VCRegICA,FastICA,Picard,Picard-O,Infomax,AMICA",
        help="comma-separated subset of the default, or VCRegICA-white (VCRegICA "
        "started from the PCA whitening) or VCRegICA-from-AMICA (started from "
        "AMICA's unmixing)",
    )
    parser.add_argument(
        "--amica-max-iter",
        type=int,
        default=2000,
        help="AMICA's EM iterations (jamica's default 2000)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the injected sources' draw"
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=None,
        help="the methods' random state (default: --seed)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="fits of the whole recording timed per method (the median reported)",
    )
    parser.add_argument(
        "--save",
        default=None,
        help="an .npz file for each method's unmixings (whole recording, halves)",
    )
    args = parser.parse_args(argv)
    if args.random_state is None:
        args.random_state = args.seed
    if mne is None:
        raise SystemExit("bench_real needs mne (pip install mne)")
    _print_header(args)
    _run(args)


if __name__ == "__main__":
    sys.exit(main())
