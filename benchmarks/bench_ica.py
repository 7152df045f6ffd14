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

The last column, ``CR bound``, is the floor for the same densities and sample
size: the expected Amari error at the asymptotic Cramér-Rao bound of linear ICA,
the error of maximum likelihood with the true densities. No regular estimator
beats it in expectation; an average over a few replicates can, by chance.
Each source's part in the estimate of another is drawn from the bound's
Gaussian (see :func:`skvcreg.datasets.fisher_information`; 200 draws per
replicate) and the Amari error of those draws is averaged. The uniform (c) and
exponential (e) densities have infinite Fisher information and count as exactly
recoverable, so the bound is optimistic (low) for mixtures that contain them.

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
from sklearn.utils import check_random_state

import skvcreg
from skvcreg import VCRegICA
from skvcreg.datasets import fisher_information, make_ica_mixture
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


def _cramer_rao_amari(names, n_samples, rng, n_draws=200):
    """Mean Amari x100 of errors drawn from the Cramér-Rao bound of linear ICA.

    For sources ``i < j`` with Fisher informations ``J_i, J_j``, the parts
    ``(E_ij, E_ji)`` of each source in the estimate of the other are jointly
    Gaussian with covariance ``[[J_i, 1], [1, J_j]]^-1 / N`` (infinite ``J``
    capped at 1e12).
    """
    J = np.minimum([fisher_information(name) for name in names], 1e12)
    m = len(J)
    errors = np.zeros((n_draws, m, m))
    for i in range(m):
        for j in range(i + 1, m):
            cov = np.linalg.inv([[J[i], 1.0], [1.0, J[j]]]) / n_samples
            pair = rng.multivariate_normal([0.0, 0.0], cov, size=n_draws)
            errors[:, i, j], errors[:, j, i] = pair[:, 0], pair[:, 1]
    eye = np.eye(m)
    return np.mean([100 * amari_distance(eye + E, eye) for E in errors])


def _run_setting(densities, n_samples, n_reps, seed0, methods):
    """Amari x100 and fit times of each method over replicates of one setting,
    and the Cramér-Rao bound of each replicate (under ``"CR bound"``)."""
    errors = {name: [] for name in [*methods, "CR bound"]}
    times = {name: [] for name in methods}
    bound_rng = np.random.default_rng(seed0)
    for rep in range(n_reps):
        seed = seed0 + rep
        X, _, A = make_ica_mixture(densities, n_samples, random_state=seed)
        for name, fit in methods.items():
            start = time.perf_counter()
            W = fit(X, seed)
            times[name].append(time.perf_counter() - start)
            errors[name].append(100 * amari_distance(W, A))
        if isinstance(densities, int):  # the draw make_sources makes first
            names = check_random_state(seed).choice(list(BACH_JORDAN), densities)
        else:
            names = densities
        errors["CR bound"].append(_cramer_rao_amari(names, n_samples, bound_rng))
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
    width = max(len(n) for n in [*names, "CR bound"]) + 2
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
    bound = {s: np.mean(per_setting[s]["CR bound"]) for s in per_setting}
    worst = max(bound, key=bound.get)
    print(
        f"{'CR bound':<{width}}{np.mean(list(bound.values())):6.2f}  "
        f"{bound[worst]:6.2f} ({worst})  (expected floor; below it where c "
        "or e occur)"
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
    columns = [*names, "CR bound"]
    print(f"\n{'setting':<10}" + "".join(f"{n:>12}" for n in columns))
    for i, (label, densities) in enumerate(settings.items()):
        errors, t = _run_setting(
            densities, n_samples, args.n_reps, 1000 * (args.seed + i), methods
        )
        per_setting[label], times[label] = errors, t
        print(f"{label:<10}" + "".join(f"{np.mean(errors[n]):12.2f}" for n in columns))
    _print_summary(names, per_setting, times)


if __name__ == "__main__":
    main()
