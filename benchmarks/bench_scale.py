"""Scale benchmarks: skvcreg on data too large to hold comfortably in memory.

Each part runs its measured calls in fresh processes (``spawn``), and reports
the wall time and the growth of the peak resident memory during the call:
the peak (``VmHWM`` in ``/proc/self/status``) is reset to the current resident
size just before the call (``/proc/self/clear_refs``; where that is refused the
peak since the start counts, and the report says so), and the growth is the
peak after the call minus the resident size before it.

Parts (``--part``; each is a function registered in ``PARTS``):

- ``hsic``: ``pairwise_hsic(method="rff")`` on a lazily generated
  ``--rows x --columns`` float32 dask array (each chunk of ``--chunk-rows`` rows
  drawn from its own seeded generator, ``numpy.random.default_rng([seed,
  chunk])``; column pairs ``(2k, 2k + 1)`` for ``k < columns / 4`` dependent
  through a square, a sine and a product, the other columns independent), with
  dask's threaded scheduler on ``--threads`` threads; then the same data built
  in memory (block by block, in another process) and the same call on the numpy
  array. Prints both times and memory growths, and the relative difference of
  the two matrices (largest difference over the largest entry, and the largest
  entrywise relative difference).

- ``ica``: ``VCRegICA(random_state=seed).fit`` on a lazily generated
  ``--rows x --columns`` float32 dask array (Laplace, uniform and centred
  exponential sources in turn, unit variance, mixed by a fixed Gaussian matrix;
  each chunk from its own seeded generator), then VCRegICA and FastICA on the
  first ``--memory-rows`` rows of the same data in memory, each fit in its own
  process. Prints the Amari distance to the true mixing, the wall time and the
  peak RSS growth of each fit.

- ``grid``: ``GridSearchCV(VCRegICA(refine=False))`` over four projector
  widths, 3 folds, on ``--rows x --columns`` mixtures (the ``ica`` data, in
  memory) under joblib's loky backend, the dask backend on a
  ``distributed.LocalCluster`` of ``--threads`` single-threaded worker
  processes, and Ray's backend with ``--threads`` CPUs; each in its own process.
  Prints the search's wall time (the cluster's start-up excluded) and whether
  the mean scores equal loky's exactly.

- ``ddp``: ``examples/ddp_embedder.py`` (VCRegEmbedder on digits for
  ``--epochs`` epochs, global batch 256, ``--torch-threads`` per process) as one
  plain process and as two gloo ranks under ``torchrun``: the time per epoch of
  each and the largest relative difference of their loss curves.

Run::

    python benchmarks/bench_scale.py --part hsic                  # 10^7 x 32
    python benchmarks/bench_scale.py --part hsic --rows 1000000   # quick check
    python benchmarks/bench_scale.py --part ica                   # 2 x 10^7 x 16
    python benchmarks/bench_scale.py --part ica --rows 100000000  # 10^8 x 16
    python benchmarks/bench_scale.py --part grid                  # 20,000 x 6
    python benchmarks/bench_scale.py --part ddp
"""

import argparse
import multiprocessing
import os
import platform
import time
from queue import Empty

import numpy as np

# ------------------------------------------------------------------ shared


def _status_bytes(field):
    """A memory figure of this process from /proc/self/status (bytes)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak():
    """Reset VmHWM to the current resident size; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _measure(func):
    """``(result, seconds, peak growth in bytes, resident bytes before, reset)``
    of ``func()``."""
    before = _status_bytes("VmRSS")
    reset = _reset_peak()
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    return result, elapsed, _status_bytes("VmHWM") - before, before, reset


def _in_child(target, *args):
    """Run ``target(*args, queue)`` in a spawned process; its queued result."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    try:
        while True:  # a child that dies without a result must not hang the parent
            try:
                result = queue.get(timeout=5)
                break
            except Empty:
                if not process.is_alive():
                    raise RuntimeError(
                        f"{target.__name__} died (exit code {process.exitcode})"
                    ) from None
    finally:
        process.join()
    if process.exitcode:
        raise RuntimeError(f"{target.__name__} exited with {process.exitcode}")
    return result


def _mib(value):
    return f"{value / 2**20:.0f} MiB"


# -------------------------------------------------------------------- hsic


def _hsic_block(rows, d, seed, chunk):
    """Chunk ``chunk`` of the ``hsic`` data: ``rows x d`` float32."""
    rng = np.random.default_rng([seed, chunk])
    Z = rng.standard_normal((rows, d), dtype=np.float32)
    for k in range(d // 4):
        a, b = Z[:, 2 * k], Z[:, 2 * k + 1]
        if k % 3 == 0:
            b[:] = a**2 + 0.5 * b
        elif k % 3 == 1:
            b[:] = np.sin(2 * a) + 0.3 * b
        else:
            b[:] = a * b
    return Z


def _hsic_chunks(n_rows, chunk_rows):
    sizes = [chunk_rows] * (n_rows // chunk_rows)
    if n_rows % chunk_rows:
        sizes.append(n_rows % chunk_rows)
    return tuple(sizes)


def _hsic_lazy(n_rows, d, chunk_rows, seed):
    import dask.array as da

    def block(block_info=None):
        info = block_info[None]
        rows = info["chunk-shape"][0]
        return _hsic_block(rows, d, seed, info["chunk-location"][0])

    return da.map_blocks(
        block,
        chunks=(_hsic_chunks(n_rows, chunk_rows), (d,)),
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
    )


def _hsic_options(options):
    bandwidth = options["bandwidth"]
    return {
        "method": "rff",
        "bandwidth": bandwidth if bandwidth == "median" else float(bandwidth),
        "n_features": options["n_features"],
        "random_state": options["seed"],
    }


def _hsic_dask_child(options, queue):
    import dask

    from skvcreg.metrics import pairwise_hsic

    kwargs = _hsic_options(options)
    X = _hsic_lazy(
        options["rows"], options["columns"], options["chunk_rows"], options["seed"]
    )
    with dask.config.set(scheduler="threads", num_workers=options["threads"]):
        pairwise_hsic(X[:1000, :4], **kwargs)  # imports and first calls
        H, *figures = _measure(lambda: pairwise_hsic(X, **kwargs))
    queue.put((H, *figures))


def _hsic_numpy_child(options, queue):
    from skvcreg.metrics import pairwise_hsic

    kwargs = _hsic_options(options)
    n, d, step = options["rows"], options["columns"], options["chunk_rows"]
    X = np.empty((n, d), dtype=np.float32)
    for chunk, start in enumerate(range(0, n, step)):
        rows = min(step, n - start)
        X[start : start + rows] = _hsic_block(rows, d, options["seed"], chunk)
    pairwise_hsic(X[:1000, :4], **kwargs)
    H, *figures = _measure(lambda: pairwise_hsic(X, **kwargs))
    queue.put((H, *figures, X.nbytes))


def part_hsic(options):
    """``pairwise_hsic(method="rff")``: a lazy dask array against numpy."""
    n, d = options["rows"], options["columns"]
    print(
        f"\n== hsic: pairwise_hsic(method='rff', n_features={options['n_features']}, "
        f"bandwidth={options['bandwidth']!r}) on {n} x {d} float32 =="
    )
    H_dask, t_dask, grow_dask, before_dask, reset = _in_child(_hsic_dask_child, options)
    print(
        f"dask  ({options['chunk_rows']}-row chunks, {options['threads']} threads): "
        f"{t_dask:8.2f} s, peak RSS growth {_mib(grow_dask)} "
        f"(resident before: {_mib(before_dask)})"
        + ("" if reset else " [peak not reset: growth over the start's peak]")
    )
    H_np, t_np, grow_np, before_np, reset, nbytes = _in_child(
        _hsic_numpy_child, options
    )
    print(
        f"numpy (in memory, data {_mib(nbytes)}): {t_np:8.2f} s, peak RSS growth "
        f"{_mib(grow_np)} (resident before: {_mib(before_np)})"
        + ("" if reset else " [peak not reset: growth over the start's peak]")
    )
    diff = np.abs(H_dask - H_np)
    entrywise = np.max(diff / np.maximum(np.abs(H_np), np.finfo(float).tiny))
    print(
        f"relative difference dask vs numpy: {diff.max() / np.abs(H_np).max():.2e} "
        f"of the largest entry, {entrywise:.2e} entrywise; "
        f"largest off-diagonal HSIC {np.max(H_np - np.diag(np.diag(H_np))):.3e}"
    )


# --------------------------------------------------------------------- ica


def _ica_mixing(m, seed):
    return np.random.default_rng([seed, 10**6]).normal(size=(m, m))


def _ica_block(rows, m, seed, chunk):
    """Chunk ``chunk`` of the ``ica`` data: ``rows x m`` float32 mixtures of
    Laplace, uniform and centred exponential sources (unit variance)."""
    rng = np.random.default_rng([seed, chunk])
    kinds = np.arange(m) % 3
    S = np.empty((rows, m))
    S[:, kinds == 0] = rng.laplace(size=(rows, int(np.sum(kinds == 0)))) / np.sqrt(2)
    S[:, kinds == 1] = rng.uniform(-np.sqrt(3), np.sqrt(3), (rows, np.sum(kinds == 1)))
    S[:, kinds == 2] = rng.exponential(size=(rows, int(np.sum(kinds == 2)))) - 1.0
    return (S @ _ica_mixing(m, seed).T).astype(np.float32)


def _ica_lazy(n_rows, m, chunk_rows, seed):
    import dask.array as da

    def block(block_info=None):
        info = block_info[None]
        return _ica_block(info["chunk-shape"][0], m, seed, info["chunk-location"][0])

    return da.map_blocks(
        block,
        chunks=(_hsic_chunks(n_rows, chunk_rows), (m,)),
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
    )


def _ica_in_memory(n_rows, m, chunk_rows, seed):
    X = np.empty((n_rows, m), dtype=np.float32)
    for chunk, start in enumerate(range(0, n_rows, chunk_rows)):
        rows = min(chunk_rows, n_rows - start)
        X[start : start + rows] = _ica_block(rows, m, seed, chunk)
    return X


def _ica_child(options, method, queue):
    import dask
    from sklearn.decomposition import FastICA

    from skvcreg import VCRegICA
    from skvcreg.metrics import amari_distance

    m, seed, chunk = options["columns"], options["seed"], options["chunk_rows"]
    if method == "dask":
        X = _ica_lazy(options["rows"], m, chunk, seed)
        estimator = VCRegICA(random_state=seed)
    else:
        X = _ica_in_memory(options["memory_rows"], m, chunk, seed)
        estimator = (
            VCRegICA(random_state=seed)
            if method == "numpy"
            else FastICA(whiten="unit-variance", max_iter=1000, random_state=seed)
        )
    with dask.config.set(scheduler="threads", num_workers=options["threads"]):
        _, *figures = _measure(lambda: estimator.fit(X))
    W = estimator.components_
    queue.put((amari_distance(W, _ica_mixing(m, seed)), *figures))


def part_ica(options):
    """``VCRegICA.fit`` on a lazy dask array against in-memory fits on fewer
    rows of the same data (VCRegICA and FastICA)."""
    n, m = options["rows"], options["columns"]
    options = {**options, "memory_rows": min(n, options["memory_rows"])}
    print(
        f"\n== ica: VCRegICA(random_state={options['seed']}).fit on a lazy {n} x {m} "
        f"float32 dask array ({options['chunk_rows']}-row chunks, "
        f"{options['threads']} dask threads) against in-memory fits on its first "
        f"{options['memory_rows']} rows; Amari distance x100 (0 is perfect) =="
    )
    for method, label in (
        ("dask", f"VCRegICA, dask, {n} rows"),
        ("numpy", f"VCRegICA, numpy, {options['memory_rows']} rows"),
        ("fastica", f"FastICA, numpy, {options['memory_rows']} rows"),
    ):
        amari, seconds, growth, before, reset = _in_child(_ica_child, options, method)
        print(
            f"{label:34s} Amari {100 * amari:7.3f}  {seconds:8.1f} s  peak RSS "
            f"growth {_mib(growth)} (resident before: {_mib(before)})"
            + ("" if reset else " [peak not reset]")
        )


# -------------------------------------------------------------------- grid


def _grid_search(options):
    from sklearn.model_selection import GridSearchCV, KFold

    from skvcreg import VCRegICA

    m, seed = options["columns"], options["seed"]
    X = _ica_in_memory(options["rows"], m, options["chunk_rows"], seed)
    search = GridSearchCV(
        VCRegICA(refine=False, random_state=seed),
        {"projector_widths": [(8,), (16,), (32,), (64,)]},
        cv=KFold(3),
        n_jobs=options["threads"],
    )
    return search, X


def _grid_child(options, backend, queue):
    import joblib

    search, X = _grid_search(options)
    workers = options["threads"]
    if backend == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
        close = lambda: (client.close(), cluster.close())  # noqa: E731
    elif backend == "ray":
        import ray
        from ray.util.joblib import register_ray

        register_ray()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        close = ray.shutdown
    else:  # loky keeps its workers for reuse; this process must not wait on them

        def close():
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=True)

    try:
        start = time.perf_counter()
        with joblib.parallel_backend(backend):
            search.fit(X)
        elapsed = time.perf_counter() - start
    finally:
        close()
    queue.put((search.cv_results_["mean_test_score"], elapsed))


def part_grid(options):
    """GridSearchCV over projector widths under joblib's loky, dask
    (distributed.LocalCluster) and Ray backends: same scores, times."""
    n, m = options["rows"], options["columns"]
    print(
        f"\n== grid: GridSearchCV(VCRegICA(refine=False), 4 projector widths, "
        f"3 folds) on {n} x {m}, {options['threads']} workers per backend =="
    )
    reference = None
    for backend in ("loky", "dask", "ray"):
        try:
            scores, seconds = _in_child(_grid_child, options, backend)
        except (ImportError, RuntimeError) as error:
            print(f"{backend:5s} not run: {error}")
            continue
        reference = scores if reference is None else reference
        same = "identical" if np.array_equal(scores, reference) else "DIFFERENT"
        print(
            f"{backend:5s} {seconds:7.1f} s (cluster start-up excluded), scores "
            f"{same} to loky's: {np.array2string(scores, precision=6)}"
        )


# --------------------------------------------------------------------- ddp


def part_ddp(options):
    """``examples/ddp_embedder.py`` (VCRegEmbedder on digits, fixed epochs) as
    one plain process and as a two-process gloo job under torchrun: loss curves
    and time per epoch."""
    import subprocess
    import sys
    import tempfile

    script = os.path.join(os.path.dirname(__file__), "..", "examples")
    script = os.path.join(script, "ddp_embedder.py")
    epochs, threads = options["epochs"], options["torch_threads"]
    print(
        f"\n== ddp: VCRegEmbedder on digits, {epochs} epochs, global batch 256, "
        f"{threads} torch thread(s) per process: 1 process against 2 gloo ranks =="
    )
    curves = {}
    with tempfile.TemporaryDirectory() as folder:
        for processes in (1, 2):
            curve = os.path.join(folder, f"curve{processes}.npy")
            arguments = [script, "--epochs", str(epochs), "--threads", str(threads)]
            arguments += ["--curve-file", curve]
            if processes == 1:
                command = [sys.executable, *arguments]
            else:
                command = [sys.executable, "-m", "torch.distributed.run"]
                command += ["--nproc-per-node", str(processes), *arguments]
            output = subprocess.run(
                command, capture_output=True, text=True, check=True
            ).stdout
            per_epoch = [line for line in output.splitlines() if "per epoch" in line]
            print(f"{processes} process(es): {per_epoch[0]}")
            curves[processes] = np.load(curve)
    gap = np.max(np.abs(curves[2] - curves[1]) / np.abs(curves[1]))
    print(f"loss curves, largest relative difference 2 ranks vs 1 process: {gap:.1e}")


# -------------------------------------------------------------------- main

PARTS = {
    "hsic": part_hsic,
    "ica": part_ica,
    "grid": part_grid,
    "ddp": part_ddp,
}


def _header(args):
    import dask
    import sklearn
    import torch

    import skvcreg

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("n/a",)
    print(f"# {platform.platform()} | {platform.processor() or platform.machine()}")
    print(f"# cores: {os.cpu_count()}, load average at start: {load}")
    print(
        f"# skvcreg {skvcreg.__version__}, numpy {np.__version__}, scikit-learn "
        f"{sklearn.__version__}, torch {torch.__version__}, dask {dask.__version__}"
    )
    print(f"# {vars(args)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=sorted(PARTS), required=True)
    parser.add_argument("--rows", type=int, help="default: 10^7 (hsic), 2 x 10^7 (ica)")
    parser.add_argument("--columns", type=int, help="default: 32 (hsic), 16 (ica)")
    parser.add_argument(
        "--memory-rows",
        type=int,
        default=10**6,
        help="rows of the in-memory fits of the ica part",
    )
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument(
        "--threads", type=int, default=2, help="dask threads (memory grows with it)"
    )
    parser.add_argument("--n-features", type=int, default=64)
    parser.add_argument(
        "--bandwidth", default="median", help="'median' or one float for every column"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20, help="ddp part")
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="ddp part, per process"
    )
    args = parser.parse_args(argv)
    rows, columns = {"ica": (2 * 10**7, 16), "grid": (20_000, 6)}.get(
        args.part, (10**7, 32)
    )
    args.rows = rows if args.rows is None else args.rows
    args.columns = columns if args.columns is None else args.columns
    _header(args)
    PARTS[args.part]({key: getattr(args, key) for key in vars(args) if key != "part"})


if __name__ == "__main__":
    main()
