"""Does VCRegICA give the same unmixing whatever the number of threads?

Each problem is fitted with ``VCRegICA(random_state=0)`` once per thread count,
each fit in its own process with ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` set and ``torch.set_num_threads`` called, so torch's
and numpy's libraries start with that many threads. Printed per problem: the
largest difference of ``components_`` from the first thread count's, relative
to its largest entry, the kernel sweeps and refinement steps of each fit, and
the fit times.

Problems: ``m3`` (Bach-Jordan (j), (q), (g), 40,000 rows), ``m8`` (eight random
Bach-Jordan densities, 20,000 rows), ``rec`` (the simulated 32-channel
recording of ``benchmarks/_recording.py``, 60,000 rows, float32) and ``eeg``
(the 31-channel EEG of ``alice-ml==0.3.9``, ``alice_ml/data/test_raw.fif``, in
microvolts; needs mne and alice-ml).

Run ``python benchmarks/bench_threads.py`` (all problems, threads 1 and 2), or
``--problems m8,eeg --threads 1,2,4``.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

_PROBLEMS = ("m3", "m8", "rec", "eeg")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _data(name):
    from skvcreg.datasets import make_ica_mixture

    if name == "m3":
        return make_ica_mixture(("j", "q", "g"), 40_000, random_state=0)[0]
    if name == "m8":
        return make_ica_mixture(8, 20_000, random_state=1)[0]
    if name == "rec":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _recording import make_recording

        return make_recording(32, 60_000, random_state=0, dtype=np.float32)[0]
    import alice_ml
    import mne

    path = os.path.join(os.path.dirname(alice_ml.__file__), "data", "test_raw.fif")
    raw = mne.io.read_raw_fif(path, verbose=False)
    return raw.get_data(picks="eeg").T * 1e6


def _child(name, threads, out):
    """One fit on ``threads`` threads (the variables are already set)."""
    import torch

    from skvcreg import VCRegICA

    torch.set_num_threads(threads)
    X = _data(name)
    start = time.perf_counter()
    ica = VCRegICA(random_state=0).fit(X)
    seconds = time.perf_counter() - start
    np.savez(
        out,
        components=ica.components_,
        steps=(ica.n_iter_, ica.n_refine_iter_),
        seconds=seconds,
    )


def _fit(name, threads, folder):
    out = os.path.join(folder, f"{name}_{threads}.npz")
    env = dict(os.environ, **{v: str(threads) for v in _THREAD_VARIABLES})
    command = [sys.executable, os.path.abspath(__file__), "--child", name]
    command += [str(threads), out]
    subprocess.run(command, env=env, check=True)
    with np.load(out) as fit:
        steps = tuple(int(s) for s in fit["steps"])
        return fit["components"], steps, float(fit["seconds"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(_PROBLEMS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, threads, out = args.child
        _child(name, int(threads), out)
        return
    counts = [int(t) for t in args.threads.split(",")]
    print("problem  threads  max rel. diff  (sweeps, refine steps)  fit s")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.problems.split(","):
            reference = None
            for threads in counts:
                W, steps, seconds = _fit(name, threads, folder)
                if reference is None:
                    reference = W
                diff = np.abs(W - reference).max() / np.abs(reference).max()
                print(
                    f"{name:8} {threads:7d}  {diff:13.2e}  {steps!s:22}  {seconds:5.1f}"
                )


if __name__ == "__main__":
    main()
