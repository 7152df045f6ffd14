"""VCRegICA against FastICA and Picard on the same mixtures, in one process.

Protocols:

- ``bach-jordan``: each of Bach & Jordan's 18 densities, two sources of that
  density, N=1000 samples, mixing ``A = U diag(1, c) V^T`` (Haar U, V, c ~ U(1, 2)),
  ``--n-reps`` replicates (100 in the reference protocol).
- ``random``: m sources of densities drawn at random from the 18, N samples
  (default m=8, N=4000), ``--n-reps`` replicates.
- ``recording``: a simulated m-channel recording (rhythms, blinks, heartbeat,
  mains, muscle, spikes and background activity through a smooth, ill-conditioned
  head-like mixing; see ``_recording.py``), N samples, ``--n-reps`` draws. No
  Cramér-Rao floor: the sources' densities are not known in closed form.

``--dtype float32`` fits float32 data. ``--memory`` runs each method on each
replicate in a fresh process and reports its peak resident memory beside the
data's size (the data are loaded from a file, so their generation does not
count).

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

``--methods VCRegICA,FastICA,AMICA`` adds AMICA (``jamica.amica`` with its
defaults: its own PCA whitening, 3 generalised Gaussians per source, 2000 EM
iterations, ``--amica-max-iter`` to change them); install it as
``benchmarks/bench_real.py`` says.

``--oracle`` adds the column ``oracle ML``: maximum likelihood with the *true*
scores on the same replicate, started at the true unmixing (relative Newton steps
with the 2x2 Hessian blocks, damped when a step turns back). It is what the
asymptotic floor becomes at this sample size for an estimator that knows the
densities; it is left out (NaN) where a source is uniform or exponential, whose
scores are not defined everywhere.

Run ``python benchmarks/bench_ica.py --help`` for the options; the figures in the
closing notes come from::

    python benchmarks/bench_ica.py --protocol bach-jordan --n-reps 100 --ablation
    python benchmarks/bench_ica.py --protocol random --n-sources 8 --n-samples 4000
    python benchmarks/bench_ica.py --protocol random --n-sources 32 \\
        --n-samples 20000 --n-reps 3
    python benchmarks/bench_ica.py --protocol random --n-sources 64 \\
        --n-samples 100000 --n-reps 5
    python benchmarks/bench_ica.py --protocol recording --n-sources 64 \\
        --n-samples 100000 --n-reps 3
    python benchmarks/bench_ica.py --protocol random --n-sources 128 \\
        --n-samples 1000000 --n-reps 1 --dtype float32 --memory
"""

import argparse
import functools
import importlib.util
import multiprocessing
import os
import platform
import sys
import tempfile
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
from skvcreg._torch_utils import resolve_device
from skvcreg.datasets import (
    _pdf,
    cramer_rao_errors,
    make_ica_mixture,
)
from skvcreg.metrics import amari_distance

try:
    from picard import picard
except ImportError:  # python-picard is a benchmark extra
    picard = None
# jamica (AMICA, a benchmark extra) is imported where AMICA runs: it loads JAX,
# which would count in the peak memory of every other method's process.
HAS_JAMICA = importlib.util.find_spec("jamica") is not None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _recording import make_recording  # noqa: E402

BACH_JORDAN = "abcdefghijklmnopqr"


def _fit_vcreg(X, seed, device="auto"):
    return VCRegICA(device=device, random_state=seed).fit(X).components_


def _fit_vcreg_unrefined(X, seed, device="auto"):
    ica = VCRegICA(refine=False, device=device, random_state=seed)
    return ica.fit(X).components_


def _fit_fastica(X, seed):
    return FastICA(random_state=seed).fit(X).components_


def _fit_picard(X, seed):
    K, W, _ = picard(X.T, ortho=False, extended=True, random_state=seed)
    return W @ K


def _fit_picard_ortho(X, seed):
    K, W, _ = picard(X.T, ortho=True, extended=True, random_state=seed)
    return W @ K


def _fit_amica(X, seed, max_iter=2000):
    """AMICA as a new user calls it: jamica's defaults (3 generalised Gaussians
    per source), its own centring and PCA whitening, ``max_iter`` EM steps."""
    import jamica

    K, W, _ = jamica.amica(X.T, whiten=True, random_state=seed, max_iter=max_iter)
    return W @ K


def _methods(ablation=False, device="auto", amica_max_iter=2000):
    """The methods by name; VCRegICA's on ``device`` (the peers on the CPU)."""
    methods = {"VCRegICA": functools.partial(_fit_vcreg, device=device)}
    if ablation:
        methods["no-refine"] = functools.partial(_fit_vcreg_unrefined, device=device)
    methods["FastICA"] = _fit_fastica
    if picard is not None:
        methods["Picard"] = _fit_picard
        methods["Picard-O"] = _fit_picard_ortho
    if HAS_JAMICA:
        methods["AMICA"] = functools.partial(_fit_amica, max_iter=amica_max_iter)
    return methods


def _cramer_rao_amari(names, n_samples, rng, n_draws=200):
    """Mean Amari x100 of errors drawn from the Cramér-Rao bound of linear ICA
    (:func:`skvcreg.datasets.cramer_rao_errors`)."""
    errors = cramer_rao_errors(names, n_samples, n_draws=n_draws, random_state=rng)
    eye = np.eye(len(names))
    return np.mean([100 * amari_distance(eye + E, eye) for E in errors])


def _true_score(name, y, h=1e-5):
    """``-p'/p`` of the standardised density ``name`` (central difference)."""
    p = _pdf(name, y)
    slope = (_pdf(name, y + h) - _pdf(name, y - h)) / (2 * h)
    return -slope / np.maximum(p, 1e-300)


def _oracle_unmixing(X, A, names, max_iter=500, tol=1e-4, max_step=0.05):
    """Maximum likelihood with the true scores, from the true unmixing: relative
    Newton steps (the score refinement's 2x2 blocks, with ``E[phi^2]`` for
    ``E[phi']``, equal for true scores), halved whenever a step turns back (the
    Laplace-like scores are discontinuous, so the equations have no exact root);
    ``tol`` is far below an entry's sampling error, ``1 / sqrt(N)``."""
    X = X - X.mean(axis=0)
    W = np.linalg.inv(A)
    m, previous, damping = len(names), None, 1.0
    for _ in range(max_iter):
        Y = X @ W.T
        phi = np.stack([_true_score(d, Y[:, i]) for i, d in enumerate(names)], 1)
        G = phi.T @ Y / len(Y)
        k, var = np.mean(phi**2, axis=0), np.mean(Y**2, axis=0)
        E = np.diag((np.diag(G) - 1) / 2)
        for i in range(m):
            for j in range(i + 1, m):
                H = [[k[i] * var[j], 1.0], [1.0, k[j] * var[i]]]
                E[i, j], E[j, i] = np.linalg.solve(H, [G[i, j], G[j, i]])
        if previous is not None and (E * previous).sum() < 0:
            damping *= 0.5
        previous = E
        E = np.clip(damping * E, -max_step, max_step)
        W = W - E @ W
        if np.abs(E).max() < tol:
            break
    return W


def _data(densities, n_samples, seed, dtype):
    """``(X, A, names)``: the mixture of a replicate and its densities (None
    for a recording)."""
    if densities == "recording":
        X, _, A = make_recording(n_samples[1], n_samples[0], random_state=seed)
        return X.astype(dtype), A, None
    X, _, A = make_ica_mixture(densities, n_samples, random_state=seed)
    if isinstance(densities, int):  # the draw make_sources makes first
        names = check_random_state(seed).choice(list(BACH_JORDAN), densities)
    else:
        names = densities
    return X.astype(dtype), A, names


def _timed_fit(fit, X, seed):
    start = time.perf_counter()
    W = fit(X, seed)
    return W, time.perf_counter() - start


def _child(method, path, seed, device, queue):
    """Fit in a fresh process: the unmixing, the time, and the peak resident
    memory (bytes) with the resident memory once the data were loaded."""
    X = np.load(path)
    before = _status_bytes("VmRSS")
    W, elapsed = _timed_fit(_methods(True, device)[method], X, seed)
    queue.put((W, elapsed, _status_bytes("VmHWM"), before))


def _status_bytes(field):
    """A memory figure of this process from /proc/self/status. The peak is
    ``VmHWM``, not ``getrusage``'s ``ru_maxrss``: Linux carries the latter
    across the ``exec`` of a spawned child, so it reports the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _fit_in_process(name, X, seed, device):
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "X.npy")
        np.save(path, X)
        queue = context.Queue()
        process = context.Process(target=_child, args=(name, path, seed, device, queue))
        process.start()
        W, elapsed, peak, before = queue.get()
        process.join()
    print(
        f"#   {name}: peak RSS {peak / 2**20:.0f} MiB = {peak / X.nbytes:.2f}x the "
        f"data ({X.nbytes / 2**20:.0f} MiB); {before / 2**20:.0f} MiB once loaded"
    )
    return W, elapsed


def _run_setting(
    densities,
    n_samples,
    n_reps,
    seed0,
    methods,
    dtype,
    memory,
    oracle=False,
    device="auto",
):
    """Amari x100 and fit times of each method over replicates of one setting,
    and the Cramér-Rao bound of each replicate (under ``"CR bound"``; the true
    scores' maximum likelihood under ``"oracle ML"`` with ``oracle``)."""
    errors = {name: [] for name in [*methods, "CR bound"]}
    if oracle:
        errors["oracle ML"] = []
    times = {name: [] for name in methods}
    bound_rng = np.random.default_rng(seed0)
    for rep in range(n_reps):
        seed = seed0 + rep
        X, A, names = _data(densities, n_samples, seed, dtype)
        bound = np.nan
        if names is not None:
            bound = _cramer_rao_amari(names, X.shape[0], bound_rng)
        errors["CR bound"].append(bound)
        if oracle:
            known = names is not None and not set(names) & {"c", "e"}
            W = _oracle_unmixing(X.astype(np.float64), A, names) if known else None
            errors["oracle ML"].append(
                np.nan if W is None else 100 * amari_distance(W, A)
            )
        line = []
        for name, fit in methods.items():
            if memory:
                W, elapsed = _fit_in_process(name, X, seed, device)
            else:
                W, elapsed = _timed_fit(fit, X, seed)
            times[name].append(elapsed)
            errors[name].append(100 * amari_distance(W, A))
            line.append(f"{name} {errors[name][-1]:.2f} in {elapsed:.2f} s")
        if len(X) >= 10_000 or n_reps <= 5:  # one line per replicate: few or large
            print(f"#  rep {rep}: " + ", ".join(line) + f"; CR bound {bound:.2f}")
    return errors, times


def _print_header(args):
    print(
        f"# skvcreg {skvcreg.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"picard {'absent' if picard is None else 'present'}"
    )
    print(f"# {platform.processor() or platform.machine()}, {platform.system()}")
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"# VCRegICA's solver on {device} ({name}); FastICA and Picard on the CPU")
    print(f"# {vars(args)}")


def _print_summary(names, per_setting, times):
    width = max(len(n) for n in [*names, "CR bound"]) + 2
    all_times = {n: np.concatenate([times[s][n] for s in times]) for n in names}
    bound = {s: np.mean(per_setting[s]["CR bound"]) for s in per_setting}
    print("\nsummary (Amari x100 averaged per setting; fit time per fit)")
    print(
        f"{'method':<{width}}  mean   worst      median ms   total s   x FastICA"
        "   x floor (worst setting)"
    )
    total_fastica = all_times["FastICA"].sum() if "FastICA" in names else np.nan
    for name in names:
        means = {s: np.mean(per_setting[s][name]) for s in per_setting}
        worst = max(means, key=means.get)
        total = all_times[name].sum()
        # Per setting, where the floor applies (uniform and exponential
        # sources make it 0): the mean error over the mean floor.
        ratios = [means[s] / bound[s] for s in per_setting if bound[s] > 0]
        floor = np.mean(list(means.values())) / np.mean(list(bound.values()))
        print(
            f"{name:<{width}}{np.mean(list(means.values())):6.2f}  "
            f"{means[worst]:6.2f} ({worst})  {1e3 * np.median(all_times[name]):9.2f}"
            f"  {total:8.2f}  {total / total_fastica:9.2f}"
            f"   {floor:6.2f} ({np.max(ratios, initial=np.nan):.2f})"
        )
    worst = max(bound, key=bound.get)
    print(
        f"{'CR bound':<{width}}{np.mean(list(bound.values())):6.2f}  "
        f"{bound[worst]:6.2f} ({worst})  (expected floor; below it where c "
        "or e occur)"
    )


def _print_oracle(names, per_setting):
    """Each method's error over the oracle's, on the replicates where it runs
    (those without uniform or exponential sources)."""
    kept = {}
    for setting, errors in per_setting.items():
        runs = ~np.isnan(errors["oracle ML"])
        if runs.any():
            kept[setting] = {
                name: np.mean(np.asarray(errors[name])[runs])
                for name in [*names, "CR bound", "oracle ML"]
            }
    if not kept:
        return
    count = sum(int((~np.isnan(per_setting[s]["oracle ML"])).sum()) for s in kept)
    oracle = np.mean([k["oracle ML"] for k in kept.values()])
    print(
        f"\noracle ML on the {count} replicates of {len(kept)} settings where it "
        f"runs: mean {oracle:.2f}"
    )
    for name in [*names, "CR bound"]:
        mean = np.mean([k[name] for k in kept.values()])
        worst = max(kept, key=lambda s: kept[s][name] / kept[s]["oracle ML"])
        ratio = kept[worst][name] / kept[worst]["oracle ML"]
        print(
            f"  {name:<10} mean {mean:6.2f} = {mean / oracle:.2f}x the oracle "
            f"(worst setting {worst}: {ratio:.2f}x)"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--protocol",
        choices=["bach-jordan", "random", "recording"],
        default="bach-jordan",
    )
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="fit each method in a fresh process and report its peak RSS",
    )
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated subset of VCRegICA,FastICA,Picard,Picard-O,AMICA "
        "(default all but Picard-O, the orthogonal variant, and AMICA, slow)",
    )
    parser.add_argument(
        "--amica-max-iter",
        type=int,
        default=2000,
        help="AMICA's EM iterations (jamica's default, 2000)",
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
        "--device",
        default="auto",
        help="VCRegICA's device: auto (a GPU when torch sees one), cpu, cuda",
    )
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="also report maximum likelihood with the true scores (oracle ML)",
    )
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="also run VCRegICA(refine=False), the kernel contrast alone",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # FastICA's convergence warnings on hard cases
    _print_header(args)
    methods = _methods(args.ablation, args.device, args.amica_max_iter)
    chosen = (args.methods or "VCRegICA,no-refine,FastICA,Picard").split(",")
    methods = {k: v for k, v in methods.items() if k in chosen}
    names = list(methods)
    if args.protocol == "bach-jordan":
        settings = {d: [d, d] for d in args.densities}
        n_samples = args.n_samples or 1000
    elif args.protocol == "random":
        settings = {f"m={args.n_sources}": args.n_sources}
        n_samples = args.n_samples or 4000
    else:
        settings = {f"rec m={args.n_sources}": "recording"}
        n_samples = (args.n_samples or 100_000, args.n_sources)
    per_setting, times = {}, {}
    columns = [*names, "CR bound", *(["oracle ML"] if args.oracle else [])]
    print(f"\n{'setting':<10}" + "".join(f"{n:>12}" for n in columns))
    for i, (label, densities) in enumerate(settings.items()):
        errors, t = _run_setting(
            densities,
            n_samples,
            args.n_reps,
            1000 * (args.seed + i),
            methods,
            np.dtype(args.dtype),
            args.memory,
            args.oracle,
            args.device,
        )
        per_setting[label], times[label] = errors, t
        print(f"{label:<10}" + "".join(f"{np.mean(errors[n]):12.2f}" for n in columns))
    _print_summary(names, per_setting, times)
    if args.oracle:
        _print_oracle(names, per_setting)


if __name__ == "__main__":
    main()
