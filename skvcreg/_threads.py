"""The package's one thread limiter: one BLAS and one OpenMP thread for small
work on the CPU (torch's CPU operators run on OpenMP, so this limits them too).

Each caller decides what "small" is for its own work (rows x components for
VCRegICA's solver, batch x layer width for the embedder) and passes
``enabled``; ``blas=False`` limits only OpenMP, for work that is all torch
(torch parallelises batched Cholesky and triangular solves over the batch with
OpenMP on top of a threaded LAPACK, a nesting far slower than one thread on a
busy machine).

Small products and short element-wise passes (the metrics' products, the
embedder's batches of a few hundred rows through layers of a few hundred units)
gain nothing from a second thread on an idle machine and lose several-fold when
other processes hold the cores (figures in ``docs/benchmarks.rst``).
"""

import contextlib
import functools
import threading

import torch
from threadpoolctl import ThreadpoolController

__all__ = ["settle_thread_count", "single_threaded"]


@contextlib.contextmanager
def _one_thread():
    # OpenMP's thread count is a per-thread setting: each thread sets and
    # restores its own. A BLAS's is global to the process, and restoring it
    # from short-lived threads while others query it was unreliable (OpenBLAS
    # kept one thread): it is limited only from the main thread, so the threads
    # of dask's scheduler run their products on the BLAS's own setting. Fresh
    # controllers see the libraries loaded since the last call.
    controller = ThreadpoolController()
    main = threading.current_thread() is threading.main_thread()
    limiter = controller.limit(limits=1, user_api=None if main else "openmp")
    try:
        yield
    finally:
        limiter.restore_original_limits()


@functools.cache
def _openmp_controller():
    # torch's OpenMP runtime is loaded with torch, so a cached controller sees
    # it; building a fresh one is a noticeable part of a small fit's step.
    return ThreadpoolController()


@contextlib.contextmanager
def _one_torch_thread():
    # torch's own matrix products (MKL) split their sums over torch's threads,
    # whatever OpenMP's limit: from the main thread torch's thread count is set
    # to one too, and restored, so that a result does not depend on it.
    with _openmp_controller().limit(limits=1, user_api="openmp"):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


def single_threaded(device=None, *, enabled=True, blas=True, torch_threads=False):
    """Context manager: one BLAS and one OpenMP thread, on the CPU only.

    Nothing is limited for a torch device other than the CPU, or when
    ``enabled`` is false. From a thread other than the main one only OpenMP
    (torch's CPU operators) is limited, for that thread. With ``blas=False``
    only OpenMP is limited, and a call inside another (torch already on one
    thread) costs nothing; ``torch_threads=True`` (with ``blas=False``) also
    sets torch's own thread count to one from the main thread, so that torch's
    products sum in one order whatever the machine's thread count.
    """
    if not enabled or (device is not None and device.type != "cpu"):
        return contextlib.nullcontext()
    if not blas:
        if torch.get_num_threads() == 1:
            return contextlib.nullcontext()
        if torch_threads:
            return _one_torch_thread()
        return _openmp_controller().limit(limits=1, user_api="openmp")
    return _one_thread()


_settled = False  # settle_thread_count has run


def settle_thread_count():
    """Put torch's CPU threads, once per process, in the state that every
    later fit finds them in: as :func:`single_threaded` with
    ``torch_threads=True`` leaves them (torch's and OpenMP's counts set to
    one and restored).

    The first such change in a process alters how torch's threaded products
    round in their last digit; every fit makes one, so without this a first
    fit differed from the same fit made again in the same process, a
    difference the refinement can grow where the likelihood is flat (between
    nearly Gaussian components). Only from the main thread, where torch's
    count is set.
    """
    global _settled
    if _settled or threading.current_thread() is not threading.main_thread():
        return
    with single_threaded(blas=False, torch_threads=True):
        pass
    _settled = True
