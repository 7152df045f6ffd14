"""Motor units of a high-density surface EMG: delay-embedded VCRegICA against FastICA.

The recording is the test file of openHD-EMG (GPL-3.0 data, not shipped here):
64 monopolar EMG channels (an electrode grid over the vastus lateralis), 66,560
samples at 2048 Hz, the force in % of the maximal voluntary contraction, and
the firing times of 4 motor units found by the acquisition software's own
decomposition (binary trains, 1 at each discharge), with the source each was
read from. Only the EMG channels go into the fits; the 4 firing trains are
the reference. It is read with :func:`scipy.io.loadmat` (openhdemg is not
imported). Get it once (benchmark-only, not a dependency of skvcreg)::

    pip download --no-deps openhdemg==0.1.2 -d /tmp/hdemg
    cd /tmp/hdemg && unzip -q openhdemg-0.1.2-py3-none-any.whl
    python benchmarks/bench_hdemg.py \\
        --mat /tmp/hdemg/openhdemg/library/decomposed_test_files/otb_testfile.mat

(without ``--mat`` the file is looked for inside an installed ``openhdemg``).

Protocol, the field's usual convolutive blind source separation kept simple:

1. band-pass 20-500 Hz (4th-order Butterworth, forward and backward, so no
   delay); a channel whose standard deviation is below a tenth or above ten
   times the median channel's is dropped as dead or detached (the channels
   dropped are printed);
2. delay embedding: each channel and its ``R - 1`` delayed copies (``--R``).
   The field extends to about a thousand columns; the default ``R = 8`` (512
   columns) with ``K = 128`` keeps each fit to a minute or two on one CPU
   thread, and ``K = 256`` to a few minutes;
3. PCA whitening of the embedded data, keeping the ``K`` leading components
   (``--K``), the same white rows for every method;
4. separation of the white rows by ``VCRegICA(whiten=False)`` and by
   scikit-learn's ``FastICA(whiten=False)`` with ``fun="logcosh"``, with
   ``fun="cube"`` (kurtosis) and with the skewness contrast of the EMG
   literature (``G(s) = s^3 / 3``, ``g(s) = s^2``, through ``fun=callable``),
   each with the same ``random_state``; each fit timed. ``VCRegICA+FastICA``
   is VCRegICA started (``w_init``) from FastICA's logcosh unmixing, timed
   with both fits;
5. for every reference motor unit, its best component: spikes are detected on
   every component (the component signed so that its skewness is positive,
   then ``s |s|``; peaks at least 10 ms apart; the spikes are the peaks in the
   higher of two clusters of peak heights, scikit-learn's ``KMeans``), shifted
   by every lag up to ``--max-lag`` samples (a delay-embedded source comes out
   as any of its delayed copies, and the reference marks its own instant of
   each discharge), and matched one to one to the reference firings within
   +-1 sample (+-0.5 ms). The rate of agreement is ``RoA = matched / (matched
   + missed + extra)``; the unit's best component and lag are those of the
   highest RoA, and the unit is *recovered* when that RoA is at least 0.8.
   ``corr`` is the highest correlation of that component's ``s |s|`` with
   the reference's source over the same lags (the file's sources lead its
   firings by a few samples).
6. the table: per method, the units recovered (of 4), the RoA of each unit,
   the median correlation with the reference sources, the median fit time
   over the seeds and its ratio to VCRegICA's.

Run ``python benchmarks/bench_hdemg.py --help`` for the options. The figures on
the benchmarks page come from (every library on one thread, so that a loaded
machine slows every method alike)::

    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    python benchmarks/bench_hdemg.py --mat FILE --K 128 --seeds 0,1,2 \\
        --methods VCRegICA,VCRegICA+FastICA,"FastICA logcosh","FastICA skew"
    python benchmarks/bench_hdemg.py --mat FILE --K 256 --seeds 0,1,2 \\
        --methods VCRegICA,"FastICA logcosh","FastICA skew"
"""

import argparse
import importlib.util
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
import torch
from scipy import io, signal, stats
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, FastICA

import skvcreg
from skvcreg import VCRegICA

_MAT = Path("library", "decomposed_test_files", "otb_testfile.mat")
_N_EMG = 64
_FIRINGS = slice(64, 68)
_SOURCES = slice(69, 73)
_FORCE = 74


# --- the recording ---


def _find_mat():
    """The test file inside an installed openhdemg (located, not imported)."""
    spec = importlib.util.find_spec("openhdemg")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / _MAT
            if path.exists():
                return path
    raise SystemExit(
        "otb_testfile.mat not found: pass --mat, after\n"
        "    pip download --no-deps openhdemg==0.1.2 -d /tmp/hdemg\n"
        "    cd /tmp/hdemg && unzip -q openhdemg-0.1.2-py3-none-any.whl\n"
        f"(the file is then /tmp/hdemg/openhdemg/{_MAT.as_posix()})"
    )


def _load(path):
    """EMG (n, 64) in uV, firing indices per unit, reference sources, force, rate."""
    mat = io.loadmat(path)
    data = np.asarray(mat["Data"][0, 0], dtype=np.float64)
    fs = float(mat["SamplingFrequency"].item())
    trains = data[:, _FIRINGS]
    if not np.isin(trains, (0.0, 1.0)).all():
        raise ValueError(f"{path}: the reference firing trains are not binary")
    firings = [np.flatnonzero(t) for t in trains.T]
    return data[:, :_N_EMG], firings, data[:, _SOURCES], data[:, _FORCE], fs


# --- the protocol's steps ---


def _bandpass(X, fs, low=20.0, high=500.0):
    """Zero-phase 4th-order Butterworth band-pass of every column."""
    sos = signal.butter(4, [low, high], btype="bandpass", fs=fs, output="sos")
    return signal.sosfiltfilt(sos, X, axis=0)


def _live_channels(X, factor=10.0):
    """Channels whose standard deviation is within ``factor`` of the median's."""
    sd = X.std(axis=0)
    median = np.median(sd)
    return np.flatnonzero((sd > median / factor) & (sd < median * factor))


def _delay_embed(X, R):
    """Rows ``[x(t), x(t-1), ..., x(t-R+1)]`` for ``t = R-1 .. n-1``."""
    n = len(X)
    return np.concatenate([X[R - 1 - r : n - r] for r in range(R)], axis=1)


def _whiten(E, K, seed):
    """The ``K`` leading principal components of ``E``, at unit variance."""
    pca = PCA(n_components=K, whiten=True, random_state=seed)
    Z = pca.fit_transform(E)
    return Z, pca.explained_variance_ratio_.sum()


# --- the methods: white rows in, sources out ---


def _skew(x):
    """FastICA's ``fun`` for the skewness contrast ``G(s) = s^3 / 3``."""
    return x**2, (2.0 * x).mean(axis=-1)


class _FromFastICA:
    """VCRegICA started (``w_init``) from FastICA's logcosh unmixing of the rows."""

    def __init__(self, seed):
        self.seed = seed

    def fit_transform(self, Z):
        """Both fits in turn; the sources of the second."""
        start = FastICA(whiten=False, fun="logcosh", random_state=self.seed).fit(Z)
        vcreg = VCRegICA(
            whiten=False, w_init=start.components_, device="cpu", random_state=self.seed
        )
        return vcreg.fit_transform(Z)


def _methods():
    """Name -> estimator factory of the seed."""
    return {
        "VCRegICA": lambda seed: VCRegICA(
            whiten=False, device="cpu", random_state=seed
        ),
        "VCRegICA+FastICA": _FromFastICA,
        "FastICA logcosh": lambda seed: FastICA(
            whiten=False, fun="logcosh", random_state=seed
        ),
        "FastICA cube": lambda seed: FastICA(
            whiten=False, fun="cube", random_state=seed
        ),
        "FastICA skew": lambda seed: FastICA(
            whiten=False, fun=_skew, random_state=seed
        ),
    }


def _fit(estimator, Z):
    """Sources, fit time in seconds, the warnings' messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        S = estimator.fit_transform(Z)
        seconds = time.perf_counter() - start
    return S, seconds, [str(w.message) for w in caught]


# --- spikes and their agreement with the reference ---


def _pulse(s):
    """``s |s|`` with ``s`` signed so that its skewness is positive."""
    s = s * np.sign(stats.skew(s) or 1.0)
    return s * np.abs(s)


def _spikes(pulse, fs, seed):
    """Peaks at least 10 ms apart in the higher of two KMeans clusters of heights."""
    peaks, props = signal.find_peaks(
        pulse, height=0.0, distance=max(1, round(0.01 * fs))
    )
    if len(peaks) < 2:
        return peaks
    heights = props["peak_heights"][:, None]
    kmeans = KMeans(n_clusters=2, n_init=3, random_state=seed).fit(heights)
    high = np.argmax(kmeans.cluster_centers_[:, 0])
    return peaks[kmeans.labels_ == high]


def _n_matched(spikes, reference, tol=1):
    """Reference firings with a spike within ``tol`` samples (one to one)."""
    if len(spikes) == 0:
        return 0
    where = np.clip(np.searchsorted(spikes, reference), 1, len(spikes) - 1)
    nearest = np.minimum(
        np.abs(spikes[where] - reference), np.abs(spikes[where - 1] - reference)
    )
    return int(np.count_nonzero(nearest <= tol))


def _roa(spikes, reference):
    """Rate of agreement ``matched / (matched + missed + extra)``."""
    matched = _n_matched(spikes, reference)
    return matched / (len(spikes) + len(reference) - matched)


def _best_match(spike_sets, reference, max_lag):
    """(RoA, component, lag) of the highest RoA over components and lags."""
    best = (0.0, 0, 0)
    for k, spikes in enumerate(spike_sets):
        for lag in range(-max_lag, max_lag + 1):
            best = max(best, (_roa(spikes + lag, reference), k, lag))
    return best


def _best_corr(pulse, source, max_lag):
    """Highest correlation of ``pulse`` with ``source`` over lags up to ``max_lag``."""
    n = len(pulse)
    return max(
        np.corrcoef(
            pulse[max(0, -lag) : n - max(0, lag)], source[max(0, lag) : n + min(0, lag)]
        )[0, 1]
        for lag in range(-max_lag, max_lag + 1)
    )


def _score(S, firings, sources, offset, fs, max_lag, seed):
    """Per reference unit: RoA and correlation of its best component."""
    pulses = [_pulse(s) for s in S.T]
    spike_sets = [_spikes(p, fs, seed) + offset for p in pulses]
    padded = np.zeros((offset, len(pulses)))  # row t of S is sample t + offset
    scores = []
    for reference, source in zip(firings, sources.T, strict=True):
        roa, k, _ = _best_match(spike_sets, reference, max_lag)
        pulse = np.concatenate([padded[:, k], pulses[k]])
        scores.append((roa, _best_corr(pulse, source, max_lag)))
    return np.array(scores)


# --- the run ---


def _print_header(args, X, live, Z, explained, firings, fs):
    """Versions, machine, options and the data's shapes."""
    print(
        f"# skvcreg {skvcreg.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}"
    )
    print(
        f"# {platform.processor() or platform.machine()}, {platform.system()}, "
        f"{os.cpu_count()} CPUs; every fit on the CPU; {vars(args)}"
    )
    dropped = sorted(set(range(X.shape[1])) - set(live.tolist()))
    print(
        f"# {X.shape[0]} samples x {X.shape[1]} channels at {fs:g} Hz; "
        f"dropped channels {dropped}; embedded {len(live) * args.R} columns; "
        f"whitened to {Z.shape[1]} components (leaving {1 - explained:.1e} of the "
        f"variance out); reference firings {[len(f) for f in firings]}"
    )


def _run(args):
    X, firings, sources, _, fs = _load(args.mat or _find_mat())
    Xf = _bandpass(X, fs)
    live = _live_channels(Xf)
    E = _delay_embed(Xf[:, live], args.R)
    Z, explained = _whiten(E, args.K, 0)
    del E
    _print_header(args, X, live, Z, explained, firings, fs)
    seeds = [int(s) for s in args.seeds.split(",")]
    factories = {k: v for k, v in _methods().items() if k in args.methods.split(",")}
    rows = {}
    for name, factory in factories.items():
        for seed in seeds:
            S, seconds, messages = _fit(factory(seed), Z)
            scores = _score(S, firings, sources, args.R - 1, fs, args.max_lag, seed)
            rows.setdefault(name, []).append((scores, seconds, len(messages)))
            print(f"#   {_line(name, seed, scores, seconds, len(messages))}")
            for message in messages:
                print(f"#     warning: {message}", flush=True)
    _print_table(rows, seeds)


def _line(name, seed, scores, seconds, n_warn, reference=None):
    """One fit's line: units recovered, RoA per unit, median corr, time."""
    recovered = int(np.count_nonzero(scores[:, 0] >= 0.8))
    roa = " ".join(f"{r:.2f}" for r in scores[:, 0])
    line = (
        f"{name:<16} {seed!s:>5} {recovered:>4}/4   {roa}   "
        f"{np.median(scores[:, 1]):.2f}  {seconds:8.1f}"
    )
    if reference is not None:
        line += f" ({seconds / reference:.2f}x)"
    return line + f"  {n_warn}"


def _print_table(rows, seeds):
    """Per method: each seed's line, then the medians over the seeds."""
    reference = np.median([t for _, t, _ in rows.get("VCRegICA", [(0, np.nan, 0)])])
    print(
        "\nmethod            seed  units  RoA per unit          median corr"
        "  fit s (x VCRegICA)  warnings"
    )
    for name, runs in rows.items():
        for seed, (scores, seconds, n_warn) in zip(seeds, runs, strict=True):
            print(_line(name, seed, scores, seconds, n_warn, reference))
    print("\nmedians over the seeds (units: those whose median RoA is >= 0.8)")
    for name, runs in rows.items():
        scores = np.median([s for s, _, _ in runs], axis=0)
        seconds = np.median([t for _, t, _ in runs])
        n_warn = int(np.median([w for _, _, w in runs]))
        print(_line(name, "all", scores, seconds, n_warn, reference))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mat", default=None, help="otb_testfile.mat of openhdemg")
    parser.add_argument("--R", type=int, default=8, help="delay-embedding factor")
    parser.add_argument("--K", type=int, default=128, help="white components kept")
    parser.add_argument(
        "--max-lag", type=int, default=20, help="lags (samples) searched per unit"
    )
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument(
        "--methods",
        default=",".join(_methods()),
        help="comma-separated subset of the default",
    )
    args = parser.parse_args(argv)
    _run(args)


if __name__ == "__main__":
    sys.exit(main())
