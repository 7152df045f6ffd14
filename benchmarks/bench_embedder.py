"""Benchmark of VCRegEmbedder against raw features, PCA and other baselines.

Protocol, for every seed: a stratified 75/25 split; the
representation is fitted without labels on all training rows; a ``StandardScaler +
LogisticRegression`` probe is fitted on 100%, 10% or 5% of the training rows (a
stratified subset drawn with the same seed) and scored on the whole test split.
Means over 5 seeds.

Sections (``--sections``, comma separated; default ``digits,tabular,widths,robust``;
``all`` runs every one):

- ``digits``: raw pixels, PCA-32, PCA-16 and VCRegEmbedder (defaults), with ratios
  and fit times;
- ``tabular``: breast_cancer and wine, raw standardised features against
  VCRegEmbedder (defaults), 100% of the labels;
- ``widths``: a projector-width sweep on digits reporting the probe accuracies,
  the pairwise independence of the representation and the label-free
  ``VCRegEmbedder.score``, and how well that score picks the width;
- ``robust``: short fits over seeds, widths 16-2048 and batch sizes 32-512,
  counting non-finite outputs;
- ``profile`` (slow): CPU time of a fit with the current defaults against the
  defaults before issue 13 (``OLD_DEFAULTS``), with the per-epoch share of the
  nearest-neighbour search, and the digits probe accuracies of both;
- ``tables`` (slow): every classification table that ships inside an installed
  package (``TABLES``), with raw features, PCA, VCRegEmbedder, SCARF (from the
  ``ts3l`` package, when installed) and gradient-boosted trees on the raw
  features as a reference row, probes at 10% and 100% of the labels;
- ``independence`` (slow): claim (ii) of Mialon, Balestriero & LeCun: does the
  pairwise independence of the representation predict out-of-domain accuracy?
  A family of embedder configurations (``FAMILY``) x seeds, each trained on clean
  data; label-free scores of the representation (its pairwise independence and
  RankMe) against in-domain and out-of-domain probe accuracy (``SHIFTS``), with
  Spearman correlations and bootstrap intervals.

Run ``python benchmarks/bench_embedder.py`` (the four default sections, about 20
minutes on 2 idle CPU cores), ``--sections all`` for everything (about an hour
and a half), or ``--quick`` for 2 seeds and reduced sections (a check in minutes:
``--quick --sections all`` runs each section on its smallest setting).
``--params '{"max_epochs": 50}'`` overrides VCRegEmbedder parameters;
``--no-scarf`` skips SCARF. Fit times are wall-clock and CPU seconds: on a
machine shared with other jobs, torch's two OpenMP threads can slow down many
times over; ``OMP_NUM_THREADS=1`` then gives steadier timings.
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
from scipy import ndimage, stats
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvcreg._embedder._estimator import VCRegEmbedder

FRACTIONS = (1.0, 0.1, 0.05)

# The defaults of VCRegEmbedder before issue 13 ("fast by default"), for the
# ``profile`` section's comparison.
OLD_DEFAULTS = {
    "n_components": 256,
    "encoder_widths": (512,),
    "projector_widths": (512, 512),
    "n_neighbors": 20,
    "resample_rate": 0.2,
    "learning_rate": 1e-3,
    "n_iter_no_change": 10,
}


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


def rankme(Z):
    """RankMe (Garrido et al., 2023): exp of the entropy of the singular values.

    With ``s_k`` the singular values of the centred ``Z`` and ``p_k = s_k /
    sum(s)``, ``exp(-sum_k p_k log p_k)``: the effective rank, between 1 and
    ``min(Z.shape)``. It is what ``VCRegEmbedder.score`` returns, written out here
    so that the benchmark scores other representations (raw, PCA, SCARF) alike.
    """
    Z = np.asarray(Z, dtype=np.float64)
    singular = np.linalg.svd(Z - Z.mean(axis=0), compute_uv=False)
    total = singular.sum()
    if not np.isfinite(total) or total <= 0:
        return 1.0
    p = singular[singular > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def _label_rows(y_train, fraction, seed):
    if fraction >= 1:
        return np.arange(len(y_train))
    rows, _ = train_test_split(
        np.arange(len(y_train)),
        train_size=fraction,
        stratify=y_train,
        random_state=seed,
    )
    return rows


def _fit_probe(Z_train, y_train, fraction, seed):
    rows = _label_rows(y_train, fraction, seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return probe.fit(Z_train[rows], y_train[rows])


def _probe(Z_train, y_train, Z_test, y_test, fraction, seed):
    return _fit_probe(Z_train, y_train, fraction, seed).score(Z_test, y_test)


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


# ----------------------------------------------------------------- profile


def _neighbour_search_seconds(X_train, params, seed):
    """CPU seconds of one epoch's neighbour searches (two views per batch).

    Calls the augmentation the way the training loop does, on the same batches,
    once with the search and once with ``n_neighbors=0``; the difference is the
    search.
    """
    from skvcreg.augmentations import TabularAugmentation

    model = VCRegEmbedder(**params)
    X = torch.as_tensor(StandardScaler().fit_transform(X_train), dtype=torch.float32)
    batch = model.batch_size
    seconds = []
    for n_neighbors in (model.n_neighbors, 0):
        augment = TabularAugmentation(
            X, n_neighbors=n_neighbors, resample_rate=model.resample_rate
        )
        generator = torch.Generator().manual_seed(seed)
        start = time.process_time()
        for begin in range(0, X.shape[0], batch):
            rows = X[begin : begin + batch]
            augment(rows, generator)
            augment(rows, generator)
        seconds.append(time.process_time() - start)
    return seconds[0] - seconds[1]


def bench_profile(seeds, params):
    """CPU time and accuracy of the current defaults against ``OLD_DEFAULTS``.

    CPU time (``time.process_time``) rather than wall time, so that the ratio
    holds on a busy machine; fits alternate between the two settings seed by
    seed. The old defaults are run with this version's code (its neighbour
    search is shared by the two views of a batch).
    """
    X, y = load_digits(return_X_y=True)
    print("\n## profile: CPU time of a default fit on digits (1347 training rows)")
    settings = {"before issue 13": {**OLD_DEFAULTS, **params}, "now": params}
    cpu = {name: [] for name in settings}
    epochs = {name: [] for name in settings}
    acc = {name: {f: [] for f in (1.0, 0.1)} for name in settings}
    search = {name: [] for name in settings}
    for seed in seeds:
        X_train, X_test, y_train, y_test = _split(X, y, seed)
        for name, setting in settings.items():
            model = VCRegEmbedder(random_state=seed, **setting)
            start = time.process_time()
            Z_train = model.fit_transform(X_train)
            cpu[name].append(time.process_time() - start)
            epochs[name].append(model.n_iter_)
            Z_test = model.transform(X_test)
            for f in acc[name]:
                acc[name][f].append(_probe(Z_train, y_train, Z_test, y_test, f, seed))
            search[name].append(_neighbour_search_seconds(X_train, setting, seed))
    print(
        "setting          CPU s/fit  epochs        CPU s/epoch  search share  "
        "acc100  acc10"
    )
    for name in settings:
        per_epoch = np.array(cpu[name]) / np.array(epochs[name])
        share = np.mean(np.array(search[name]) / per_epoch)
        print(
            f"{name:16s} {np.mean(cpu[name]):9.2f}  {str(epochs[name]):13s} "
            f"{per_epoch.mean():11.3f}  {share:12.0%}  "
            f"{np.mean(acc[name][1.0]):.4f}  {np.mean(acc[name][0.1]):.4f}"
        )
    ratio = np.mean(cpu["before issue 13"]) / np.mean(cpu["now"])
    print(f"CPU-time ratio before / now: {ratio:.2f}")
    return cpu, acc


# ----------------------------------------------------------------- tables


def _penguins():
    from palmerpenguins import load_penguins

    frame = load_penguins().dropna()
    y = frame["species"].to_numpy()
    numeric = frame[
        ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    ].to_numpy(dtype=float)
    island = (frame["island"].to_numpy()[:, None] == ["Biscoe", "Dream"]).astype(float)
    sex = (frame["sex"].to_numpy() == "male").astype(float)[:, None]
    return np.hstack([numeric, island, sex]), y


def _statsmodels_frame(name):
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(f"statsmodels.datasets.{name}")
        return module.load_pandas().data


def _anes96():
    frame = _statsmodels_frame("anes96")
    y = frame["vote"].to_numpy(dtype=int)
    X = frame.drop(columns=["vote", "logpopul"]).to_numpy(dtype=float)
    return X, y


def _fair():
    frame = _statsmodels_frame("fair")
    y = (frame["affairs"] > 0).to_numpy(dtype=int)
    return frame.drop(columns=["affairs"]).to_numpy(dtype=float), y


def _sklearn(loader):
    return lambda: loader(return_X_y=True)


# name -> (loader, where the file is: the package that ships it)
TABLES = {
    "digits": (_sklearn(load_digits), "scikit-learn"),
    "breast_cancer": (_sklearn(load_breast_cancer), "scikit-learn"),
    "wine": (_sklearn(load_wine), "scikit-learn"),
    "iris": (_sklearn(load_iris), "scikit-learn"),
    "penguins": (_penguins, "palmerpenguins"),
    "anes96 (vote)": (_anes96, "statsmodels"),
    "fair (affair)": (_fair, "statsmodels"),
}


class ScarfEmbedder:
    """SCARF (Bahri et al., 2022) from the ``ts3l`` package, as a transformer.

    ts3l's ``SCARFLightning`` model, its ``SCARFDataset`` corruption and a
    pytorch-lightning ``Trainer``, with the settings of the SCARF paper: a
    4-layer ReLU MLP encoder of width 256 (batch norm, no dropout), a 2-layer
    pretraining head, corruption rate 0.6, temperature 1, Adam with learning
    rate 1e-3, batches of 128, a fixed number of epochs. ``transform`` returns
    the encoder's output. One change: ts3l's NT-Xent loss builds a ``(2n, 2n,
    D)`` tensor for its cosine similarities (1.5 s per batch of 128 on one CPU
    core); on the L2-normalised embeddings SCARF feeds it, the same loss is a
    cross-entropy over ``z z^T / tau``, computed here with one matrix product.
    """

    def __init__(self, max_epochs=100, random_state=0):
        self.max_epochs = max_epochs
        self.random_state = random_state

    def fit_transform(self, X):
        import logging

        import pandas as pd
        import pytorch_lightning as pl
        from torch.utils.data import DataLoader
        from ts3l.pl_modules import SCARFLightning
        from ts3l.utils.backbone_utils import MLPBackboneConfig
        from ts3l.utils.embedding_utils import IdentityEmbeddingConfig
        from ts3l.utils.scarf_utils import SCARFConfig, SCARFDataset

        for logger in ("pytorch_lightning", "lightning", "lightning_fabric"):
            logging.getLogger(logger).setLevel(logging.ERROR)
        self.scaler_ = StandardScaler().fit(X)
        X_std = self.scaler_.transform(X)
        d = X.shape[1]
        config = SCARFConfig(
            task="classification",
            loss_fn="CrossEntropyLoss",
            output_dim=2,  # the supervised head is never trained here
            embedding_config=IdentityEmbeddingConfig(input_dim=d),
            backbone_config=MLPBackboneConfig(
                input_dim=d,
                hidden_dims=256,
                output_dim=256,
                n_hiddens=4,
                dropout_rate=0.0,
            ),
            pretraining_head_dim=256,
            corruption_rate=0.6,
            tau=1.0,
            optim="Adam",
            optim_hparams={"lr": 1e-3},
            random_seed=int(self.random_state),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = SCARFLightning(config)
            module.contrastive_loss = _MatmulNTXent(config.tau)
            columns = [f"x{j}" for j in range(d)]
            dataset = SCARFDataset(
                pd.DataFrame(X_std, columns=columns),
                config=config,
                continuous_cols=columns,
                category_cols=[],
            )
            loader = DataLoader(
                dataset,
                batch_size=min(128, len(dataset)),
                shuffle=True,
                drop_last=len(dataset) > 128,
            )
            trainer = pl.Trainer(
                max_epochs=self.max_epochs,
                accelerator="cpu",
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                limit_val_batches=0,
            )
            trainer.fit(module, loader)
        self.model_ = module.model.eval()
        return self.transform(X)

    def transform(self, X):
        X_std = torch.as_tensor(self.scaler_.transform(X), dtype=torch.float32)
        with torch.no_grad():
            embedded = self.model_.embedding_module(X_std)
            return self.model_.encoder(embedded).numpy().astype(np.float64)


class _MatmulNTXent(torch.nn.Module):
    """NT-Xent of two batches of embeddings, from one similarity matrix."""

    def __init__(self, temperature):
        super().__init__()
        self.temperature = temperature

    def forward(self, z_i, z_j):
        n = z_i.shape[0]
        z = torch.nn.functional.normalize(torch.cat([z_i, z_j]), dim=1)
        similarity = z @ z.T / self.temperature
        self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        similarity = similarity.masked_fill(self_pairs, float("-inf"))
        partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
        return torch.nn.functional.cross_entropy(similarity, partner)


def _scarf_available():
    try:
        import pytorch_lightning  # noqa: F401
        import ts3l  # noqa: F401
    except ImportError as error:
        print(f"(SCARF skipped: {error})")
        return False
    return True


class _Boosting:
    """Marker: gradient-boosted trees on the raw features, not a representation."""


def _evaluate_table(make, X, y, seeds, fractions):
    """Accuracies (seeds x fractions) of a representation + probe, or of trees."""
    out = np.zeros((len(seeds), len(fractions)))
    for i, seed in enumerate(seeds):
        X_train, X_test, y_train, y_test = _split(X, y, seed)
        model = make(seed)
        if isinstance(model, _Boosting):
            for j, f in enumerate(fractions):
                rows = _label_rows(y_train, f, seed)
                trees = HistGradientBoostingClassifier(random_state=seed)
                trees.fit(X_train[rows], y_train[rows])
                out[i, j] = trees.score(X_test, y_test)
            continue
        if model is None:
            Z_train, Z_test = X_train, X_test
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Z_train = model.fit_transform(X_train)
            Z_test = model.transform(X_test)
        for j, f in enumerate(fractions):
            out[i, j] = _probe(Z_train, y_train, Z_test, y_test, f, seed)
    return out


def bench_tables(seeds, params, *, names=None, scarf=True, scarf_epochs=100):
    """Every bundled classification table: raw, PCA, VCRegEmbedder, SCARF, trees."""
    fractions = (0.1, 1.0)
    scarf = scarf and _scarf_available()
    seeds = list(seeds)
    print(
        "\n## tables shipped inside installed packages (probe accuracy, mean±std "
        f"over {len(seeds)} seeds; trees = HistGradientBoostingClassifier on the raw "
        "features, a reference, not a probe)"
    )
    results, wins = {}, []
    for name in names or TABLES:
        loader, package = TABLES[name]
        try:
            X, y = loader()
        except ImportError as error:
            print(f"{name}: skipped ({error})")
            continue
        X = np.asarray(X, dtype=np.float64)
        k = max(2, min(16, X.shape[1] // 2))
        methods = {
            "raw": lambda seed: None,
            f"PCA-{k}": _pca(k),
            "VCRegEmbedder": _embedder(params),
        }
        if scarf:
            methods[f"SCARF ({scarf_epochs} ep.)"] = lambda seed: ScarfEmbedder(
                scarf_epochs, seed
            )
        methods["trees on raw (ref.)"] = lambda seed: _Boosting()
        n_classes = len(np.unique(y))
        print(
            f"\n{name} ({package}): {X.shape[0]} rows x {X.shape[1]} features, "
            f"{n_classes} classes; 10% labels = "
            f"{len(_label_rows(_split(X, y, 0)[2], 0.1, 0))} rows"
        )
        print("method                  10% labels       100% labels      CPU s")
        rows = {}
        for method, make in methods.items():
            start = time.process_time()
            acc = _evaluate_table(make, X, y, seeds, fractions)
            seconds = (time.process_time() - start) / len(seeds)
            rows[method] = acc
            cells = "".join(
                f"{acc[:, j].mean():.4f}±{acc[:, j].std():.3f}     "
                for j in range(len(fractions))
            )
            print(f"{method:23s} {cells}{seconds:6.1f}")
        results[name] = rows
        gain = rows["VCRegEmbedder"][:, 0] - rows["raw"][:, 0]
        wins.append(gain.mean() > 0)
        print(
            f"VCRegEmbedder - raw at 10% labels: {100 * gain.mean():+.2f} points "
            f"(per seed {np.round(100 * gain, 1).tolist()})"
        )
    print(
        f"\nVCRegEmbedder beats raw features at 10% labels on {sum(wins)} of "
        f"{len(wins)} tables"
    )
    return results


# ------------------------------------------------------------ independence

# Configurations of the claim (ii) study: (name, VCRegEmbedder parameters on top
# of the defaults). "VCReg" is the loss without invariance term.
FAMILY = [
    ("VICReg", {}),
    ("VICReg proj (16,16)", {"projector_widths": (16, 16)}),
    ("VICReg proj (64,64)", {"projector_widths": (64, 64)}),
    ("VICReg proj (1024,1024)", {"projector_widths": (1024, 1024)}),
    ("VICReg random MLP proj", {"projector": "random_mlp"}),
    (
        "VICReg separable proj",
        {"projector": "separable", "projector_widths": (16,)},
    ),
    ("VICReg cov 0", {"covariance_weight": 0.0}),
    ("VICReg cov 0.1", {"covariance_weight": 0.1}),
    ("VICReg cov 10", {"covariance_weight": 10.0}),
    ("VCReg", {"invariance_weight": 0.0}),
    ("VCReg cov 10", {"invariance_weight": 0.0, "covariance_weight": 10.0}),
    (
        "VCReg separable proj",
        {"invariance_weight": 0.0, "projector": "separable", "projector_widths": (16,)},
    ),
]
QUICK_FAMILY = ["VICReg", "VICReg proj (16,16)", "VICReg cov 0", "VCReg"]


def _family(quick):
    """FAMILY, plus Barlow Twins and W-MSE when VCRegEmbedder has ``loss=``."""
    family = list(FAMILY)
    if "loss" in VCRegEmbedder().get_params():
        family += [
            ("Barlow Twins", {"loss": "barlow_twins"}),
            # W-MSE whitens over the batch: it needs 2 * batch_size above the
            # projector's output width (256).
            ("W-MSE", {"loss": "wmse", "batch_size": 256}),
        ]
    if quick:
        family = [item for item in family if item[0] in QUICK_FAMILY]
    return family


def rotate_digits(X, seed, min_angle=5.0, max_angle=15.0):
    """Rotate each 8x8 digit by a random angle of ``min_angle`` to ``max_angle``
    degrees, clockwise or anticlockwise."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(min_angle, max_angle, len(X)) * rng.choice([-1, 1], len(X))
    images = X.reshape(-1, 8, 8)
    out = [
        ndimage.rotate(image, angle, reshape=False, order=1, mode="constant")
        for image, angle in zip(images, angles, strict=True)
    ]
    return np.clip(np.asarray(out), 0, 16).reshape(len(X), 64)


def noise_digits(X, seed, std=2.0):
    """Add Gaussian noise of ``std`` grey levels (pixels range 0-16), clipped."""
    rng = np.random.default_rng(seed)
    return np.clip(X + rng.normal(0.0, std, X.shape), 0, 16)


def _digits_task(seed):
    """Clean digits split; the OOD tests are the test rows rotated and noised."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = _split(X, y, seed)
    shifted = {
        "digits rotated": (rotate_digits(X_test, seed), y_test),
        "digits noised": (noise_digits(X_test, seed), y_test),
    }
    return X_train, y_train, X_test, y_test, shifted


def _fair_task(seed):
    """fair, in-domain ages <= 27, out-of-domain ages >= 32 (a covariate shift)."""
    X, y = _fair()
    age = X[:, 1]
    inside = age <= 27
    X_train, X_test, y_train, y_test = _split(X[inside], y[inside], seed)
    return X_train, y_train, X_test, y_test, {"fair older": (X[~inside], y[~inside])}


SHIFTS = {"digits": _digits_task, "fair": _fair_task}


def _bootstrap_spearman(score, target, rng, n_boot=2000):
    """Spearman over configurations, 95% interval from resampling configurations.

    ``score`` and ``target`` are (configurations, seeds); a resample draws
    configurations with replacement and correlates their means over seeds.
    """
    s, t = score.mean(axis=1), target.mean(axis=1)
    rho = stats.spearmanr(s, t).statistic
    draws = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(s), len(s))
        if np.ptp(s[pick]) == 0 or np.ptp(t[pick]) == 0:
            continue
        draws.append(stats.spearmanr(s[pick], t[pick]).statistic)
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(rho), float(low), float(high)


def run_family(task, family, seeds, params):
    """Scores and accuracies of every configuration of ``family`` on ``task``.

    Returns a dict of arrays of shape (configurations, seeds): ``independence``
    and ``rankme`` (label-free, of the encoder's output on the clean in-domain
    test rows), ``in_domain`` and one entry per shift (accuracy of a probe
    trained on the clean training rows with all their labels). The last row is
    the reference of standardised raw features, not a configuration.
    """
    shape = (len(family) + 1, len(seeds))
    out = {}
    for j, seed in enumerate(seeds):
        X_train, y_train, X_test, y_test, shifted = task(seed)
        for i, (_, config) in enumerate([*family, ("raw", None)]):
            if config is None:  # the reference row: standardised raw features
                model = StandardScaler()
            else:
                model = VCRegEmbedder(random_state=seed, **{**params, **config})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Z_train = model.fit_transform(X_train)
            Z_test = model.transform(X_test)
            probe = _fit_probe(Z_train, y_train, 1.0, seed)
            values = {
                "independence": _independence(Z_test, seed),
                "rankme": rankme(Z_test),
                "in_domain": probe.score(Z_test, y_test),
            }
            for shift, (X_shift, y_shift) in shifted.items():
                values[shift] = probe.score(model.transform(X_shift), y_shift)
            for key, value in values.items():
                out.setdefault(key, np.zeros(shape))[i, j] = value
    return out


def bench_independence(seeds, params, *, quick=False):
    """Claim (ii): does independence of the representation predict OOD accuracy?"""
    family = _family(quick)
    seeds = list(seeds)
    rng = np.random.default_rng(0)
    print(
        f"\n## claim (ii): {len(family)} configurations x {len(seeds)} seeds; "
        "embedder and probe (100% labels) trained on clean in-domain rows, the "
        "probe tested on clean and on shifted test rows; scores are label-free, "
        "of the encoder's output (the projector's input) on the clean test rows"
    )
    results = {}
    for task_name, task in SHIFTS.items():
        out = run_family(task, family, seeds, params)
        results[task_name] = out
        shifts = [k for k in out if k not in ("independence", "rankme", "in_domain")]
        print(f"\n### {task_name}")
        print(
            "configuration              independence  RankMe   in-domain  "
            + "  ".join(f"{s:>15s}" for s in shifts)
        )
        for i, (name, _) in enumerate([*family, ("(raw features, ref.)", None)]):
            print(
                f"{name:26s} {out['independence'][i].mean():12.4f}  "
                f"{out['rankme'][i].mean():7.2f}  {out['in_domain'][i].mean():9.4f}  "
                + "  ".join(f"{out[s][i].mean():15.4f}" for s in shifts)
            )
        for shift in shifts:
            drop = out["in_domain"][:-1] - out[shift][:-1]
            for score in ("independence", "rankme", "in_domain"):
                values, target = out[score][:-1], out[shift][:-1]
                rho, low, high = _bootstrap_spearman(values, target, rng)
                rho_d, low_d, high_d = _bootstrap_spearman(values, -drop, rng)
                print(
                    f"Spearman({score}, {shift} accuracy) = {rho:+.2f} "
                    f"[{low:+.2f}, {high:+.2f}];  with minus the drop "
                    f"{rho_d:+.2f} [{low_d:+.2f}, {high_d:+.2f}]"
                )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--sections", default="digits,tabular,widths,robust", help="comma separated"
    )
    parser.add_argument("--params", default="{}", help="JSON VCRegEmbedder params")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--no-scarf", action="store_true", help="skip SCARF")
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
    if "all" in sections:
        sections = "digits,tabular,widths,robust,profile,tables,independence"
        sections = sections.split(",")
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
    if "profile" in sections:
        bench_profile(seeds, params)
    if "tables" in sections:
        names = ["wine", "iris", "penguins"] if args.quick else None
        bench_tables(
            seeds,
            params,
            names=names,
            scarf=not args.no_scarf,
            scarf_epochs=20 if args.quick else 100,
        )
    if "independence" in sections:
        bench_independence(
            range(args.seeds or (1 if args.quick else 3)), params, quick=args.quick
        )


if __name__ == "__main__":
    main()
