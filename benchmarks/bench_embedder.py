"""Benchmark of VCRegEmbedder against raw features and PCA (DESIGN.md section 4).

Protocol, for every seed: a stratified 75/25 split; the representation is fitted
without labels on all training rows; a ``StandardScaler + LogisticRegression``
probe is fitted on 100%, 10% or 5% of the training rows (a stratified subset drawn
with the same seed) and scored on the whole test split. Means over 5 seeds.

Sections (``--sections``, default all):

- ``digits``: raw pixels, PCA-32, PCA-16 and VCRegEmbedder (defaults), with ratios
  and fit times;
- ``tabular``: breast_cancer and wine, raw standardised features against
  VCRegEmbedder (defaults), 100% of the labels;
- ``widths``: a projector-width sweep on digits reporting the probe accuracies,
  the pairwise independence of the representation and the label-free
  ``VCRegEmbedder.score``, and how well that score picks the width;
- ``robust``: short fits over seeds, widths 16-2048 and batch sizes 32-512,
  counting non-finite outputs.

Run ``python benchmarks/bench_embedder.py`` (about 30 minutes on 2 idle CPU cores)
or ``--quick`` for 2 seeds and shorter sections; ``--params '{"max_epochs": 50}'``
overrides VCRegEmbedder parameters. Fit times are wall-clock and CPU seconds: on a
machine shared with other jobs, torch's two OpenMP threads can slow down many times
over; ``OMP_NUM_THREADS=1`` then gives steadier timings.
"""

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvcreg._embedder import VCRegEmbedder

FRACTIONS = (1.0, 0.1, 0.05)


def _independence(Z, seed):
    """Pairwise independence of the columns (greater = more independent)."""
    try:
        from skvcreg.metrics import pairwise_independence_score
    except ImportError:
        return _mean_abs_correlation_score(Z)
    return pairwise_independence_score(Z, max_samples=500, random_state=seed)


def _mean_abs_correlation_score(Z):
    """Fallback when the metrics module is not there: 1 - mean |correlation|."""
    C = np.corrcoef(Z, rowvar=False)
    C = np.nan_to_num(C)
    off = np.abs(C[~np.eye(len(C), dtype=bool)])
    return float(1.0 - off.mean())


def _probe(Z_train, y_train, Z_test, y_test, fraction, seed):
    if fraction < 1:
        rows, _ = train_test_split(
            np.arange(len(y_train)),
            train_size=fraction,
            stratify=y_train,
            random_state=seed,
        )
    else:
        rows = np.arange(len(y_train))
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probe.fit(Z_train[rows], y_train[rows])
    return probe.score(Z_test, y_test)


def _split(X, y, seed):
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


def _evaluate(make, X, y, seeds, fractions=FRACTIONS):
    """Mean probe accuracies and median fit time of a representation factory."""
    scores = {f: [] for f in fractions}
    times, cpu_times, n_iter, finite = [], [], [], True
    for seed in seeds:
        X_train, X_test, y_train, y_test = _split(X, y, seed)
        model = make(seed)
        start, cpu_start = time.perf_counter(), time.process_time()
        if model is None:
            Z_train, Z_test = X_train, X_test
        else:
            Z_train = model.fit_transform(X_train)
            Z_test = model.transform(X_test)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        n_iter.append(getattr(model, "n_iter_", 0))
        finite &= bool(np.isfinite(Z_train).all() and np.isfinite(Z_test).all())
        for f in fractions:
            scores[f].append(_probe(Z_train, y_train, Z_test, y_test, f, seed))
    return {
        "accuracy": {f: float(np.mean(v)) for f, v in scores.items()},
        "std": {f: float(np.std(v)) for f, v in scores.items()},
        "fit_time": float(np.median(times)),
        "cpu_time": float(np.median(cpu_times)),
        "n_iter": n_iter,
        "finite": finite,
    }


def _pca(k):
    return lambda seed: make_pipeline(StandardScaler(), PCA(k, random_state=seed))


def _embedder(params):
    return lambda seed: VCRegEmbedder(random_state=seed, **params)


def _print_table(rows, reference="raw"):
    header = "method".ljust(26) + "".join(
        f"{int(100 * f):>4d}% labels      " for f in FRACTIONS
    )
    print(header + "fit s: wall / CPU (medians), epochs")
    base = rows[reference]["accuracy"]
    for name, result in rows.items():
        cells = ""
        for f in FRACTIONS:
            acc, sd = result["accuracy"].get(f), result["std"].get(f)
            if acc is None:
                cells += " " * 20
                continue
            cells += f"{acc:.4f}±{sd:.3f} x{acc / base[f]:.3f} "
        print(
            name.ljust(26)
            + cells
            + f"{result['fit_time']:.1f} / {result['cpu_time']:.1f}  {result['n_iter']}"
        )


def bench_digits(seeds, params):
    X, y = load_digits(return_X_y=True)
    rows = {
        "raw": _evaluate(lambda seed: None, X, y, seeds),
        "PCA-32": _evaluate(_pca(32), X, y, seeds),
        "PCA-16": _evaluate(_pca(16), X, y, seeds),
        "VCRegEmbedder": _evaluate(_embedder(params), X, y, seeds),
    }
    print("\n## digits (mean±std over seeds, x = ratio to raw pixels)")
    _print_table(rows)
    return rows


def bench_tabular(seeds, params):
    print("\n## breast_cancer and wine (100% of the labels)")
    results = {}
    for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine)):
        X, y = loader(return_X_y=True)
        raw = _evaluate(lambda seed: None, X, y, seeds, fractions=(1.0,))
        emb = _evaluate(_embedder(params), X, y, seeds, fractions=(1.0,))
        a, b = raw["accuracy"][1.0], emb["accuracy"][1.0]
        print(
            f"{name:14s} raw {a:.4f}  VCRegEmbedder {b:.4f}  "
            f"difference {100 * (b - a):+.2f} points  fit {emb['fit_time']:.1f} s"
        )
        results[name] = (raw, emb)
    return results


def _spearman(a, b):
    rank_a = np.argsort(np.argsort(a))
    rank_b = np.argsort(np.argsort(b))
    return float(np.corrcoef(rank_a, rank_b)[0, 1])


def bench_widths(seeds, params, widths):
    """Probe accuracy, independence and label-free score across projector widths.

    The label-free ``VCRegEmbedder.score`` (effective rank) is computed on the
    held-out rows without their labels; it is compared with the choice a
    10%-label probe would make.
    """
    X, y = load_digits(return_X_y=True)
    print("\n## projector-width sweep on digits (means over seeds)")
    seeds = list(seeds)
    shape = (len(widths), len(seeds))
    acc = {f: np.zeros(shape) for f in FRACTIONS}
    independence, score = np.zeros(shape), np.zeros(shape)
    for i, width in enumerate(widths):
        for j, seed in enumerate(seeds):
            X_train, X_test, y_train, y_test = _split(X, y, seed)
            model = VCRegEmbedder(
                random_state=seed, **{**params, "projector_widths": width}
            )
            Z_train = model.fit_transform(X_train)
            Z_test = model.transform(X_test)
            score[i, j] = model.score(X_test)
            independence[i, j] = _independence(Z_test, seed)
            for f in FRACTIONS:
                acc[f][i, j] = _probe(Z_train, y_train, Z_test, y_test, f, seed)
    print("widths          acc100  acc10   acc5    independence  score")
    for i, width in enumerate(widths):
        print(
            f"{str(width):15s} {acc[1.0][i].mean():.4f}  {acc[0.1][i].mean():.4f}  "
            f"{acc[0.05][i].mean():.4f}  {independence[i].mean():12.4f}  "
            f"{score[i].mean():6.2f}"
        )
    acc10 = acc[0.1]
    by_score = score.argmax(axis=0)
    by_probe = acc10.argmax(axis=0)
    columns = np.arange(len(seeds))
    regret = acc10[by_probe, columns] - acc10[by_score, columns]
    print(
        "per seed, width picked by the label-free score: "
        f"{[widths[k] for k in by_score]}; by the 10%-label probe: "
        f"{[widths[k] for k in by_probe]}"
    )
    print(
        f"10%-label accuracy lost by picking with the score instead of the probe: "
        f"mean {regret.mean():.4f}, max {regret.max():.4f}"
    )
    print(
        "Spearman across widths (means): score vs acc10 "
        f"{_spearman(score.mean(1), acc10.mean(1)):.2f}, score vs acc100 "
        f"{_spearman(score.mean(1), acc[1.0].mean(1)):.2f}, independence vs acc10 "
        f"{_spearman(independence.mean(1), acc10.mean(1)):.2f}"
    )
    return acc, independence, score


def bench_robust(seeds, params):
    X, _ = load_digits(return_X_y=True)
    print("\n## robustness: non-finite outputs (short fits)")
    bad, total = 0, 0
    for seed in seeds:
        for width in (16, 128, 512, 2048):
            for batch_size in (32, 128, 512):
                model = VCRegEmbedder(
                    random_state=seed,
                    **{
                        **params,
                        "projector_widths": (width, width),
                        "batch_size": batch_size,
                        "max_epochs": 3,
                    },
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    Z = model.fit_transform(X)
                ok = np.isfinite(Z).all() and np.isfinite(model.loss_curve_).all()
                bad += not ok
                total += 1
    print(f"{bad} of {total} fits gave a non-finite output or loss")
    return bad


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--sections", default="digits,tabular,widths,robust", help="comma separated"
    )
    parser.add_argument("--params", default="{}", help="JSON VCRegEmbedder params")
    parser.add_argument("--seeds", type=int, default=None)
    args = parser.parse_args(argv)
    params = json.loads(args.params)
    seeds = range(args.seeds or (2 if args.quick else 5))
    print(
        f"# bench_embedder: {platform.platform()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), scikit-learn "
        f"{sklearn.__version__}, numpy {np.__version__}; params {params}"
    )
    warnings.filterwarnings("ignore", message=".*constant.*")
    sections = args.sections.split(",")
    if "digits" in sections:
        bench_digits(seeds, params)
    if "tabular" in sections:
        bench_tabular(seeds, params)
    if "widths" in sections:
        widths = [(w, w) for w in (16, 64, 256, 512, 1024)]
        if args.quick:
            widths = [(w, w) for w in (16, 256, 1024)]
        bench_widths(range(2 if args.quick else 3), params, widths)
    if "robust" in sections:
        bench_robust(range(1 if args.quick else 2), params)


if __name__ == "__main__":
    main()
