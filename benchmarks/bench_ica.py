"""VCRegICA against FastICA and Picard on the same mixtures, in one process.

Protocols (DESIGN.md §4):

- ``bach-jordan``: each of Bach & Jordan's 18 densities, two sources of that
  density, N=1000 samples, mixing ``A = U diag(1, c) V^T`` (Haar U, V, c ~ U(1, 2)),
  ``--n-reps`` replicates (100 in the reference protocol).
- ``random``: m sources of densities drawn at random from the 18, N samples
  (default m=8, N=4000), ``--n-reps`` replicates.

Prints the Amari error x100 (Bach-Jordan normalisation, see
:func:`skvcreg.metrics.amari_distance`) per density and method, the mean and worst
density, and the median fit time with its ratio to FastICA's.

Run ``python benchmarks/bench_ica.py --help`` for the options; the figures in the
closing notes come from::

    python benchmarks/bench_ica.py --protocol bach-jordan --n-reps 100 --ablation
    python benchmarks/bench_ica.py --protocol random --n-sources 8 --n-samples 4000
    python benchmarks/bench_ica.py --protocol random --n-sources 32 \\
        --n-samples 20000 --n-reps 3
"""

import argparse
import platform
import time
import warnings

import numpy as np
import scipy
import sklearn
import torch
from sklearn.decomposition import FastICA

import skvcreg
from skvcreg import VCRegICA
from skvcreg.datasets import make_ica_mixture
from skvcreg.metrics import amari_distance

try:
    from picard import picard
except ImportError:  # python-picard is a benchmark extra
    picard = None

BACH_JORDAN = "abcdefghijklmnopqr"


def _fit_vcreg(X, seed):
    return VCRegICA(random_state=seed).fit(X).components_


def _fit_vcreg_unrefined(X, seed):
    return VCRegICA(refine=False, random_state=seed).fit(X).components_


def _fit_fastica(X, seed):
    return FastICA(random_state=seed).fit(X).components_


def _fit_picard(X, seed):
    K, W, _ = picard(X.T, ortho=False, extended=True, random_state=seed)
    return W @ K


def _methods(ablation=False):
    methods = {"VCRegICA": _fit_vcreg}
    if ablation:
        methods["no-refine"] = _fit_vcreg_unrefined
    methods["FastICA"] = _fit_fastica
    if picard is not None:
        methods["Picard"] = _fit_picard
    return methods


def _run_setting(densities, n_samples, n_reps, seed0, methods):
    """Amari x100 and fit times of each method over replicates of one setting."""
    errors = {name: [] for name in methods}
    times = {name: [] for name in methods}
    for rep in range(n_reps):
        seed = seed0 + rep
        X, _, A = make_ica_mixture(densities, n_samples, random_state=seed)
        for name, fit in methods.items():
            start = time.perf_counter()
            W = fit(X, seed)
            times[name].append(time.perf_counter() - start)
            errors[name].append(100 * amari_distance(W, A))
    return errors, times


def _print_header(args):
    print(
        f"# skvcreg {skvcreg.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"picard {'absent' if picard is None else 'present'}"
    )
    print(f"# {platform.processor() or platform.machine()}, {platform.system()}")
    print(f"# {vars(args)}")


def _print_summary(names, per_setting, times):
    width = max(len(n) for n in names) + 2
    all_times = {n: np.concatenate([times[s][n] for s in times]) for n in names}
    print("\nsummary (Amari x100 averaged per setting; fit time per fit)")
    print(f"{'method':<{width}}  mean   worst      median ms   total s   x FastICA")
    total_fastica = all_times["FastICA"].sum()
    for name in names:
        means = {s: np.mean(per_setting[s][name]) for s in per_setting}
        worst = max(means, key=means.get)
        total = all_times[name].sum()
        print(
            f"{name:<{width}}{np.mean(list(means.values())):6.2f}  "
            f"{means[worst]:6.2f} ({worst})  {1e3 * np.median(all_times[name]):9.2f}"
            f"  {total:8.2f}  {total / total_fastica:9.2f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--protocol", choices=["bach-jordan", "random"], default="bach-jordan"
    )
    parser.add_argument("--n-reps", type=int, default=100)
    parser.add_argument("--n-samples", type=int, default=None)
    parser.add_argument("--n-sources", type=int, default=8)
    parser.add_argument(
        "--densities",
        default=BACH_JORDAN,
        help="bach-jordan protocol: which densities (letters)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="also run VCRegICA(refine=False), the kernel contrast alone",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # FastICA's convergence warnings on hard cases
    _print_header(args)
    methods = _methods(args.ablation)
    names = list(methods)
    if args.protocol == "bach-jordan":
        settings = {d: [d, d] for d in args.densities}
        n_samples = args.n_samples or 1000
    else:
        settings = {f"m={args.n_sources}": args.n_sources}
        n_samples = args.n_samples or 4000
    per_setting, times = {}, {}
    print(f"\n{'setting':<10}" + "".join(f"{n:>12}" for n in names))
    for i, (label, densities) in enumerate(settings.items()):
        errors, t = _run_setting(
            densities, n_samples, args.n_reps, 1000 * (args.seed + i), methods
        )
        per_setting[label], times[label] = errors, t
        print(f"{label:<10}" + "".join(f"{np.mean(errors[n]):12.2f}" for n in names))
    _print_summary(names, per_setting, times)


if __name__ == "__main__":
    main()
