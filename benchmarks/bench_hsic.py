"""Pairwise HSIC: skvcreg against hyppo and dcor, same data, same process.

Sections (all on standard normal data with a few dependent columns):

1. all 496 pairs of 32 features at n=1000: ``pairwise_hsic`` (default certified
   low-rank method, and the exact row-block method) against a loop of
   ``hyppo.independence.Hsic().statistic`` and a loop of
   ``dcor.distance_correlation``;
2. one pair at n=10 000 against hyppo (one pair only: it is slow), and all 32
   features at n=10 000 with ``pairwise_hsic``;
3. n=10^6, d=32 with random Fourier features (time and peak memory, in a fresh
   process);
4. exact ``pairwise_hsic`` at n=5000, d=64 (time and peak memory, fresh process).

Agreement is printed where the definitions coincide: hyppo's statistic is the
unbiased CKA of Gaussian kernels whose gamma comes from the *first* variable's
median distance (``1 / (2 med_x^2)``, used for both variables), which equals
``hsic(x, y, bandwidth=(med_x, med_x), estimator="unbiased", normalize=True)``.
dcor computes distance correlation (a different kernel), so only its time is
compared. Times are medians of repeats (``--repeats``); ratios are hyppo or dcor
time over ours.

Run:  python benchmarks/bench_hsic.py            (about 3-5 minutes)
      python benchmarks/bench_hsic.py --quick    (hyppo on 40 of the 496 pairs,
                                                  extrapolated; sections 3-4 smaller)
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

RSS_CHILD = r"""
import json, sys, time
import numpy as np
from skvcreg.metrics import pairwise_hsic
n, d, n_features = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[4])
method = sys.argv[3]
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d))
X[:, 1] = X[:, 0] ** 2 + 0.5 * X[:, 1]
pairwise_hsic(X[:2000, :4], method=method, n_features=n_features, random_state=0)


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024  # MiB


before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS
t = time.perf_counter()
H = pairwise_hsic(X, method=method, n_features=n_features, random_state=0)
elapsed = time.perf_counter() - t
peak = status("VmHWM")
print(json.dumps({"time": elapsed, "peak_mib": peak, "before_mib": before,
                  "data_mib": X.nbytes / 2**20, "finite": bool(np.isfinite(H).all())}))
"""


def _timed(func, repeats):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(np.min(times)), result


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[:, 1] = X[:, 0] ** 2 + 0.5 * X[:, 1]  # non-monotone dependence
    X[:, 2] = np.sin(2 * X[:, 0]) + 0.3 * X[:, 2]
    X[:, 3] = rng.standard_t(3, size=n)  # heavy tail
    return X


def _header():
    import dcor
    import hyppo
    import scipy
    import sklearn
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("n/a",)
    print("machine:", platform.platform(), "|", platform.processor() or "cpu")
    print(
        f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
        f"load average at start: {load}"
    )
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, torch "
        f"{torch.__version__}, hyppo {hyppo.__version__}, dcor {dcor.__version__}"
    )


def section_pairs(repeats, quick):
    from dcor import distance_correlation
    from hyppo.independence import Hsic

    from skvcreg.metrics import hsic, pairwise_hsic
    from skvcreg.metrics._bandwidth import median_bandwidths

    n, d = 1000, 32
    X = _data(n, d)
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    print(f"\n== 1. all {len(pairs)} pairs of {d} features, n={n} ==")
    pairwise_hsic(X)  # warm-up
    t_exact, _, H_exact = _timed(lambda: pairwise_hsic(X, method="exact"), 1)
    t_bw, _, _ = _timed(lambda: median_bandwidths(X), repeats)

    # hyppo's loop, with our call timed between its chunks so that both see the
    # same machine load.
    timed_pairs = pairs[:40] if quick else pairs
    Hsic().statistic(X[:, [0]], X[:, [1]])  # warm-up (numba compilation)
    hyppo_stats, t_hyppo, ours = [], 0.0, []
    for chunk in np.array_split(np.arange(len(timed_pairs)), repeats):
        start = time.perf_counter()
        for k in chunk:
            i, j = timed_pairs[k]
            hyppo_stats.append(Hsic().statistic(X[:, [i]], X[:, [j]]))
        t_hyppo += time.perf_counter() - start
        start = time.perf_counter()
        H = pairwise_hsic(X)
        ours.append(time.perf_counter() - start)
    t_hyppo *= len(pairs) / len(timed_pairs)
    t_low, t_low_min = float(np.median(ours)), float(np.min(ours))
    rel = np.max(np.abs(H - H_exact) / H_exact)
    print(
        f"skvcreg pairwise_hsic (lowrank, default): median {t_low * 1e3:.1f} ms, "
        f"best {t_low_min * 1e3:.1f} ms over {repeats} calls (median bandwidths "
        f"alone: {t_bw * 1e3:.1f} ms)"
    )
    print(f"skvcreg pairwise_hsic (exact row blocks):  {t_exact:.3f} s")
    print(f"  lowrank vs exact: max relative difference {rel:.2e} (certified <= 1e-6)")
    note = f" (extrapolated from {len(timed_pairs)} pairs)" if quick else ""
    distance_correlation(X[:, 0], X[:, 1])  # warm-up (numba compilation)
    start = time.perf_counter()
    for i, j in pairs:
        distance_correlation(X[:, i], X[:, j])
    t_dcor = time.perf_counter() - start
    print(f"hyppo Hsic loop over pairs: {t_hyppo:.2f} s{note}")
    print(f"dcor distance_correlation loop over pairs: {t_dcor:.3f} s")
    print(
        f"ratio hyppo / skvcreg lowrank: {t_hyppo / t_low:.0f}x (best-time ratio "
        f"{t_hyppo / t_low_min:.0f}x); hyppo / skvcreg exact: "
        f"{t_hyppo / t_exact:.0f}x; dcor / skvcreg lowrank: {t_dcor / t_low:.1f}x"
    )

    s = median_bandwidths(X)
    ours = [
        hsic(
            X[:, i],
            X[:, j],
            bandwidth=(s[i], s[i]),
            estimator="unbiased",
            normalize=True,
        )
        for i, j in timed_pairs[:40]
    ]
    diff = np.max(np.abs(np.array(ours) - np.array(hyppo_stats[:40])))
    print(
        f"agreement with hyppo (unbiased CKA, hyppo's bandwidth rule), "
        f"{len(ours)} pairs: max |difference| {diff:.2e}"
    )
    return {
        "lowrank_s": t_low,
        "exact_s": t_exact,
        "hyppo_s": t_hyppo,
        "dcor_s": t_dcor,
    }


def section_large_n(repeats, quick):
    from hyppo.independence import Hsic

    from skvcreg.metrics import hsic, pairwise_hsic
    from skvcreg.metrics._bandwidth import median_bandwidths

    n = 4000 if quick else 10_000
    X = _data(n, 32, seed=1)
    print(f"\n== 2. n={n}: one pair against hyppo, then all 32 features ==")
    Hsic().statistic(X[:50, [0]], X[:50, [1]])  # warm-up
    start = time.perf_counter()
    stat_hyppo = Hsic().statistic(X[:, [0]], X[:, [1]])
    t_hyppo = time.perf_counter() - start
    t_pair, _, _ = _timed(lambda: pairwise_hsic(X[:, :2]), repeats)
    s_x = float(median_bandwidths(X[:, :1])[0])
    t_single, _, stat = _timed(
        lambda: hsic(
            X[:, 0], X[:, 1], bandwidth=(s_x, s_x), estimator="unbiased", normalize=True
        ),
        1,
    )
    t_all, _, _ = _timed(lambda: pairwise_hsic(X), max(1, repeats // 2))
    print(f"hyppo Hsic, one pair: {t_hyppo:.2f} s")
    print(
        f"skvcreg pairwise_hsic on that pair (lowrank): {t_pair * 1e3:.1f} ms "
        f"-> {t_hyppo / t_pair:.0f}x"
    )
    print(
        f"skvcreg hsic(x, y) exact unbiased CKA with hyppo's bandwidth rule: "
        f"{t_single:.2f} s -> {t_hyppo / t_single:.1f}x; |difference| "
        f"{abs(stat - stat_hyppo):.2e}"
    )
    print(
        f"skvcreg pairwise_hsic, all 496 pairs of 32 features: {t_all:.2f} s "
        f"(hyppo would need about {496 * t_hyppo:.0f} s)"
    )
    return {"hyppo_pair_s": t_hyppo, "pair_s": t_pair, "all_s": t_all}


def _child(n, d, method, n_features):
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(n), str(d), method, str(n_features)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def section_rff(quick):
    n_rff = 100_000 if quick else 1_000_000
    print(f"\n== 3. random features, n={n_rff}, d=32 (fresh process) ==")
    for n_features in (8, 16):
        r = _child(n_rff, 32, "rff", n_features)
        print(
            f"n_features={n_features}: {r['time']:.2f} s, peak RSS "
            f"{r['peak_mib']:.0f} MiB (process before the call {r['before_mib']:.0f} "
            f"MiB with input X {r['data_mib']:.0f} MiB; added by the call "
            f"{r['peak_mib'] - r['before_mib']:.0f} MiB), finite={r['finite']}"
        )


def section_exact_memory(quick):
    n_exact = 2000 if quick else 5000
    print(f"\n== 4. exact pairwise_hsic, n={n_exact}, d=64 (fresh process) ==")
    r = _child(n_exact, 64, "exact", 64)
    print(
        f"{r['time']:.2f} s, peak RSS {r['peak_mib']:.0f} MiB (process before the "
        f"call {r['before_mib']:.0f} MiB; added by the call "
        f"{r['peak_mib'] - r['before_mib']:.0f} MiB), finite={r['finite']}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sections", default="1234")
    args = parser.parse_args()
    _header()
    if "1" in args.sections:
        section_pairs(args.repeats, args.quick)
    if "2" in args.sections:
        section_large_n(args.repeats, args.quick)
    if "3" in args.sections:
        section_rff(args.quick)
    if "4" in args.sections:
        section_exact_memory(args.quick)
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
