"""Benchmark of the separation certificate (skvcreg.metrics.separation_certificate
and VCRegICA.certificate_): is the predicted precision right, are the flags right,
and what does it cost.

Checks, each printed with its target:

- ``calibration``: random Bach-Jordan mixtures (densities drawn from a-r); the
  observed gain ``G = components_ @ A`` of VCRegICA (matched to the sources,
  rows scaled to a unit diagonal) against the certificate's ``gain_sd``: the
  ratio of the observed RMS of the off-diagonal entries to the RMS of the
  predicted sd, over all pairs and per density of the component (target
  0.8-1.25), components the certificate's test flags as dependent apart;
- ``gaussian``: mixtures with 2-4 Gaussian (or Bach-Jordan (i)) sources among
  non-Gaussian ones: the fraction of Gaussian-like pairs flagged
  non-identifiable (target 1) and of other pairs (target <= 0.05), and the
  observed leak of those pairs against their predicted sd;
- ``unfinished``: FastICA and Picard on mixtures of (j) and (q) sources, where
  their contrasts fail: are their worst components flagged dependent (Holm,
  level 0.01), and VCRegICA's not;
- ``stability``: on the simulated recording (benchmarks/_recording.py), and
  with ``--eeg`` on a real 31-channel EEG (alice-ml's ``test_raw.fif``, read
  with MNE), Spearman correlation between each component's predicted
  interference and its split-half instability (target >= 0.6), the halves
  the first and second half of the rows and the rows dealt out at random (on
  the EEG also interleaved 2 s blocks); and, for a fit on all the rows, its
  components' interference and drift against their instability between the
  halves' fits;
- ``cost``: the certificate against VCRegICA's fit at m=64, n=10^5 (target
  <= 5%), and separation_certificate at m=128, n=10^6 (target <= 10 s).

Run ``python benchmarks/bench_certificate.py`` (all checks, scaled down: see
``--help``); ``--draws 100 --large-draws 5`` for the issue's sizes.
"""

import argparse
import platform
import time
from collections import defaultdict

import numpy as np
import scipy
import sklearn
import torch
from scipy import stats
from sklearn.decomposition import FastICA

import skvcreg
from skvcreg import VCRegICA
from skvcreg._data import validate_metric_rows
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import match_sources, separation_certificate
from skvcreg.metrics._certificate import certify_rows

try:
    from picard import picard
except ImportError:  # the benchmark extra
    picard = None

BACH_JORDAN = "abcdefghijklmnopqr"


def _matched_gain(components, A, S_true=None):
    """The gain ``G = components @ A`` with its rows permuted to the sources
    (Hungarian matching on |G| normalised per row) and scaled to a unit
    diagonal; returns ``(G, order)`` with ``order[j]`` the component matched to
    source ``j``."""
    from scipy.optimize import linear_sum_assignment

    G = components @ A
    weight = np.abs(G) / np.abs(G).max(axis=1, keepdims=True)
    rows, cols = linear_sum_assignment(-weight)
    order = np.empty(A.shape[1], dtype=int)
    order[cols] = rows
    G = G[order]
    return G / np.diag(G)[:, None], order


def _ratio(observed, predicted):
    return np.sqrt(np.mean(np.square(observed)) / np.mean(np.square(predicted)))


def calibration(m, n, draws, seed):
    """Observed RMS leak of VCRegICA over the certificate's predicted sd.

    The prediction is for finished separations: components that the
    certificate's own test flags as still dependent are counted apart (with
    their observed leak), the others pooled, overall and per density."""
    observed, predicted, by_density = [], [], defaultdict(lambda: ([], []))
    flagged_leak, fit_times, cert_times = [], [], []
    rng = np.random.default_rng(seed)
    off = ~np.eye(m, dtype=bool)
    for draw in range(draws):
        names = list(rng.choice(list(BACH_JORDAN), size=m))
        X, S, A = make_ica_mixture(names, n_samples=n, random_state=seed + draw)
        A = A * S.std(axis=0)  # the gain of unit-variance sources
        start = time.perf_counter()
        ica = VCRegICA(random_state=draw).fit(X)
        fit_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        separation_certificate(X, ica.components_, test=False, random_state=draw)
        cert_times.append(time.perf_counter() - start)
        tested = separation_certificate(X, ica.components_, random_state=draw)
        G, order = _matched_gain(ica.components_, A)
        sd = ica.certificate_.gain_sd[np.ix_(order, order)]
        dependent = tested.dependent_components[order]
        keep = np.isfinite(sd) & off & ~dependent[:, None] & ~dependent[None, :]
        observed.append(G[keep])
        predicted.append(sd[keep])
        flagged_leak.extend(np.sqrt(np.sum(G[dependent] ** 2, axis=1) - 1.0))
        for i, name in enumerate(names):
            by_density[name][0].append(G[i, keep[i]])
            by_density[name][1].append(sd[i, keep[i]])
    total = _ratio(np.concatenate(observed), np.concatenate(predicted))
    print(
        f"calibration m={m} n={n} draws={draws}: observed RMS leak / predicted sd "
        f"= {total:.3f} over {np.concatenate(observed).size} entries (target "
        "0.8-1.25)"
    )
    print(
        f"  {len(flagged_leak)} of {m * draws} components flagged still dependent "
        "by the certificate's test, left out above (their RMS leak: "
        + ", ".join(f"{v:.2f}" for v in flagged_leak)
        + ")"
    )
    ratios = {
        name: _ratio(np.concatenate(o), np.concatenate(p))
        for name, (o, p) in sorted(by_density.items())
    }
    print(
        "  per density of the component: "
        + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
    )
    inside = np.mean([0.8 <= v <= 1.25 for v in ratios.values()])
    print(f"  densities within 0.8-1.25: {inside:.0%}")
    print(
        f"  median fit {np.median(fit_times):.2f} s, certificate (no test) "
        f"{np.median(cert_times) * 1e3:.0f} ms "
        f"({np.median(cert_times) / np.median(fit_times):.1%} of the fit)"
    )
    return total, ratios


def gaussian_flags(n, draws, seed, near="gaussian", max_sd=None):
    """Fraction of Gaussian-like pairs flagged non-identifiable at ``max_sd``
    (None: the certificate's default), and of others."""
    level = {} if max_sd is None else {"max_sd": max_sd}
    like, other, leak, predicted = [], [], [], []
    by_partner = defaultdict(lambda: ([], []))  # pairs with a Gaussian-like source
    mixed, n_other = [], 0  # non-Gaussian-like sources left mixed, and all
    rng = np.random.default_rng(seed)
    for draw in range(draws):
        k = int(rng.integers(2, 5))
        names = [near] * k + list(rng.choice(list("abdfgjkmpq"), size=8 - k))
        X, S, A = make_ica_mixture(names, n_samples=n, random_state=seed + draw)
        ica = VCRegICA(random_state=draw).fit(X)
        G, order = _matched_gain(ica.components_, A * S.std(axis=0))
        cert = separation_certificate(
            X, ica.components_, test=False, random_state=draw, **level
        )
        flags = cert.non_identifiable[np.ix_(order, order)]
        upper = np.triu_indices(8, k=1)
        gaussian = np.array([name == near for name in names])
        both = (gaussian[:, None] & gaussian[None, :])[upper]
        like.append(flags[upper][both])
        other.append(flags[upper][~both])
        pairs = gaussian[:, None] & gaussian[None, :] & ~np.eye(8, dtype=bool)
        sd = cert.gain_sd[np.ix_(order, order)]
        leak.append(G[pairs])
        predicted.append(sd[pairs])
        n_other += int((~gaussian).sum())
        for i in np.flatnonzero(~gaussian):
            largest = np.abs(np.delete(G[i], i)).max()
            if largest > 0.2:
                mixed.append(f"{names[i]} {largest:.2f}")
        for i in np.flatnonzero(gaussian):  # both directions of each pair
            for j in range(8):
                if j != i:
                    partner = near if gaussian[j] else names[j]
                    by_partner[partner][0].extend([G[i, j], G[j, i]])
                    by_partner[partner][1].extend([sd[i, j], sd[j, i]])
    like, other = np.concatenate(like), np.concatenate(other)
    leak, predicted = np.concatenate(leak), np.concatenate(predicted)
    print(
        f"non-identifiable flags at max_sd={cert.max_sd}, {near} sources, n={n}, "
        f"{draws} mixtures: "
        f"{like.mean():.0%} of {like.size} {near} pairs (target 100%), "
        f"{other.mean():.1%} of {other.size} other pairs (target <= 5%)"
    )
    print(
        f"  {near} pairs: observed leak RMS {np.sqrt(np.mean(leak**2)):.3f}, "
        f"median |G| {np.median(np.abs(leak)):.3f}, "
        f"90% {np.quantile(np.abs(leak), 0.9):.3f}; "
        f"predicted sd median {np.median(predicted):.3f}"
    )
    print(
        f"  non-{near} sources left mixed by VCRegICA (a leak above 0.2): "
        f"{len(mixed)} of {n_other} " + (f"({', '.join(mixed)})" if mixed else "")
    )
    print(
        f"  observed RMS leak / predicted, {near} beside: "
        + ", ".join(
            f"{k} {_ratio(np.array(o), np.array(p)):.2f}"
            for k, (o, p) in sorted(by_partner.items())
            if k != near
        )
        + f"; beside another {near} "
        + (
            "-"
            if near == "gaussian"  # infinite predicted sd
            else f"{_ratio(*map(np.array, by_partner[near])):.2f}"
        )
    )
    return like.mean(), other.mean()


def _fastica(X, seed):
    return FastICA(whiten="unit-variance", random_state=seed).fit(X).components_


def _picard(X, seed):
    K, W, _ = picard(X.T, ortho=False, extended=True, random_state=seed)
    return W @ K


def unfinished(n, draws, seed, m=4):
    """Dependent flags on the worst-separated components of FastICA and
    Picard, and on VCRegICA's, for mixtures of (j) and (q) sources."""
    methods = {"VCRegICA": lambda X, s: VCRegICA(random_state=s).fit(X).components_}
    methods["FastICA"] = _fastica
    if picard is not None:
        methods["Picard"] = _picard
    counts = {name: defaultdict(int) for name in methods}
    for draw in range(draws):
        names = ["j", "q"] * (m // 2)
        X, S, A = make_ica_mixture(names, n_samples=n, random_state=seed + draw)
        A = A * S.std(axis=0)
        for name, fit in methods.items():
            W = fit(X, draw)
            G, order = _matched_gain(W, A)
            cert = separation_certificate(X, W, random_state=draw)
            leak = np.sqrt(np.sum(np.square(G), axis=1) - 1.0)  # per source
            floor = np.sqrt(cert.interference[order])
            flagged = cert.dependent_components[order]
            classes = {
                "mixed (leak > 0.2)": leak > 0.2,
                "between": (leak <= 0.2) & (leak > 3 * floor),
                "at the floor (leak <= 3x predicted)": leak <= 3 * floor,
            }
            for label, members in classes.items():
                counts[name][label] += int(members.sum())
                counts[name][label + " flagged"] += int((members & flagged).sum())
    print(
        f"unfinished separations, {m} sources (j, q), n={n}, {draws} mixtures "
        "(RMS leak of each component against the predicted one; flag: dependent "
        "at 0.01, Holm):"
    )
    for name, c in counts.items():
        print(
            f"  {name}: "
            + ", ".join(
                f"{c[label + ' flagged']}/{c[label]} {label}" for label in classes
            )
        )
    return counts


def _split_half(X, seed, label, block=None):
    """Spearman correlation of the predicted interference and the split-half
    instability: VCRegICA fitted on each half of the rows, the second half's
    components matched to the first's (Hungarian algorithm on their
    correlations over all rows); a component's instability is
    ``1 - |correlation|`` with its match, about half its squared error.

    ``block=None`` splits the rows into their first and second halves; a
    number of rows interleaves the halves in blocks of that many (odd and even
    blocks), so that a change of the recording over time falls in both;
    ``"random"`` deals the rows out at random (``separation_stability``'s
    ``split="random"``, as ICASSO resamples rows)."""
    n = X.shape[0]
    if block is None:
        halves = np.arange(n) < n // 2
    elif block == "random":
        halves = np.random.default_rng(seed).permutation(n) < n // 2
        label = f"{label}, rows dealt out at random"
    else:
        halves = (np.arange(n) // block) % 2 == 0
        label = f"{label}, halves interleaved in blocks of {block} rows"
    first = VCRegICA(random_state=seed).fit(X[halves])
    second = VCRegICA(random_state=seed).fit(X[~halves])
    match = match_sources(first.transform(X), second.transform(X))
    instability = 1.0 - match.correlations
    interference = first.certificate_.interference
    rho = stats.spearmanr(interference, instability).statistic
    print(
        f"stability, {label} (halves of {n // 2} rows, "
        f"{first.components_.shape[0]} components): Spearman(predicted "
        f"interference, split-half instability) = {rho:.2f} (target >= 0.6)"
    )
    # The user's view: the certificate of the fit on all the rows, and the
    # instability of that fit's components between their matches in the two
    # halves' fits. Its drift is the first-order difference between the first
    # and second half of the rows, so it is printed for that split only.
    whole = VCRegICA(random_state=seed).fit(X)
    Y = whole.transform(X)
    matched = []
    for part in (first, second):
        components = part.transform(X)
        found = match_sources(Y, components)
        matched.append(components[:, found.permutation] * found.signs)
    a, b = (m - m.mean(axis=0) for m in matched)
    apart = 1.0 - np.abs((a * b).sum(axis=0) / np.sqrt((a * a).sum(0) * (b * b).sum(0)))
    cert = whole.certificate_
    predictions = {"interference": cert.interference}
    if block is None:
        predictions["drift"] = cert.drift
        predictions["interference + drift"] = cert.interference + cert.drift
    print(
        "  the fit on all rows, its components' instability between the halves' "
        "fits: Spearman with "
        + ", ".join(
            f"{name} {stats.spearmanr(value, apart).statistic:.2f}"
            for name, value in predictions.items()
        )
        + (
            f" (median drift_ratio {np.nanmedian(cert.drift_ratio):.1f})"
            if block is None
            else ""
        )
    )
    order = np.argsort(interference)
    print(
        "  interference dB (sorted): "
        + " ".join(f"{v:.0f}" for v in first.certificate_.interference_db[order])
    )
    print(
        "  instability x1e4 (same order): "
        + " ".join(f"{v * 1e4:.1f}" for v in instability[order])
    )
    return rho


def stability(m, n, seed):
    """The split-half check on the simulated recording."""
    from _recording import make_recording

    X, _, _ = make_recording(m, n, random_state=seed)
    label = f"simulated recording m={m} n={n}"
    return _split_half(X, seed, label), _split_half(X, seed, label, "random")


def real_stability(seed):
    """The split-half check on a real recording: the 31-channel EEG shipped with
    alice-ml (``alice_ml/data/test_raw.fif``, 120 s at 500 Hz, band-passed 3-40
    Hz), read with MNE; the channels' data in volts, rows the time points."""
    import os

    import alice_ml
    import mne

    path = os.path.join(os.path.dirname(alice_ml.__file__), "data", "test_raw.fif")
    raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
    X = raw.get_data().T
    label = f"EEG test_raw.fif {X.shape[1]} channels"
    # Also with the halves interleaved in 2 s blocks: the certificate assumes
    # a stationary recording, and first and second halves also differ by
    # what changed over the two minutes.
    interleaved = _split_half(X, seed, label, block=int(2 * raw.info["sfreq"]))
    # And with the rows dealt out at random: what the certificate predicts,
    # the instability of two samples of the same recording.
    dealt = _split_half(X, seed, label, block="random")
    return _split_half(X, seed, label), interleaved, dealt


def cost(seed, repeats=3):
    """The certificate's cost at the issue's sizes: ``certificate_`` as a fit
    computes it (on the 20,000 rows it reads of the rows it validated) against
    the fit, medians of ``repeats``; and the any-ICA function with its test."""
    X, _, _ = make_ica_mixture(64, n_samples=100_000, random_state=seed)
    fits, certificates, public = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ica = VCRegICA(random_state=seed).fit(X)
        fits.append(time.perf_counter() - start)
        rows = validate_metric_rows(X, "X")  # checked by the fit, not timed
        start = time.perf_counter()
        certify_rows(rows, ica.components_, test=False, random_state=seed)
        certificates.append(time.perf_counter() - start)
        start = time.perf_counter()
        separation_certificate(X, ica.components_, test=False, random_state=seed)
        public.append(time.perf_counter() - start)
    fit, certificate = np.median(fits), np.median(certificates)
    print(
        f"cost m=64 n=1e5: fit {fit:.2f} s, its certificate_ (no test) "
        f"{certificate * 1e3:.0f} ms = {certificate / fit:.1%} of the fit (target "
        f"<= 5%; medians of {repeats}); separation_certificate(X, ...) without "
        f"the test, X checked whole: {np.median(public) * 1e3:.0f} ms"
    )
    rng = np.random.default_rng(seed)
    S = rng.laplace(size=(1_000_000, 128))
    W = np.linalg.qr(rng.standard_normal((128, 128)))[0]
    X = S @ W
    times = []
    for _ in range(3):
        start = time.perf_counter()
        separation_certificate(X, W, random_state=seed)
        times.append(time.perf_counter() - start)
    print(
        f"cost m=128 n=1e6: separation_certificate with the test "
        f"{np.median(times):.1f} s (median of 3; target <= 10 s)"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=20, help="m=8 calibration")
    parser.add_argument("--large-draws", type=int, default=1, help="m=64 n=1e5")
    parser.add_argument("--flag-draws", type=int, default=10)
    parser.add_argument("--unfinished-draws", type=int, default=10)
    parser.add_argument("--recording-channels", type=int, default=16)
    parser.add_argument("--recording-samples", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--checks",
        default="calibration,gaussian,unfinished,stability,cost",
        help="comma-separated subset",
    )
    parser.add_argument(
        "--eeg",
        action="store_true",
        help="the stability check also on a real 31-channel EEG (needs mne and "
        "alice-ml)",
    )
    args = parser.parse_args(argv)
    print(
        f"# skvcreg {skvcreg.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, picard "
        f"{'absent' if picard is None else 'present'}"
    )
    print(f"# {platform.processor() or platform.machine()}, {platform.system()}")
    print(f"# {vars(args)}")
    checks = args.checks.split(",")
    if "calibration" in checks:
        calibration(8, 4000, args.draws, args.seed)
        if args.large_draws:
            calibration(64, 100_000, args.large_draws, args.seed)
    if "gaussian" in checks:
        for max_sd in (None, 0.03, 0.04):  # the default, and either side of it
            gaussian_flags(4000, args.flag_draws, args.seed, "gaussian", max_sd)
            gaussian_flags(4000, args.flag_draws, args.seed, "i", max_sd)
        gaussian_flags(1000, args.flag_draws, args.seed, "i")
    if "unfinished" in checks:
        unfinished(4000, args.unfinished_draws, args.seed)
    if "stability" in checks:
        stability(args.recording_channels, args.recording_samples, args.seed)
        if args.eeg:
            real_stability(args.seed)
    if "cost" in checks:
        cost(args.seed)


if __name__ == "__main__":
    main()
