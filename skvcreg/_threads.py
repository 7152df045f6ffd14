"""The package's one thread limiter: one BLAS and one OpenMP thread for small
work on the CPU (torch's CPU operators run on OpenMP, so this limits them too).

Small products and short element-wise passes (the metrics' products, the
embedder's batches of a few hundred rows through layers of a few hundred units)
gain nothing from a second thread on an idle machine and lose several-fold when
other processes hold the cores (figures in ``docs/benchmarks.rst``).
"""

import contextlib
import threading

from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded"]

_LIMIT_LOCK = threading.Lock()
_LIMIT_STATE = {"depth": 0, "limiter": None}


@contextlib.contextmanager
def _one_thread():
    # threadpoolctl's limits are global to the process: with several threads
    # inside (dask's threaded scheduler), the first one in sets them and the
    # last one out restores the original limits.
    with _LIMIT_LOCK:
        if _LIMIT_STATE["depth"] == 0:
            # A fresh controller (1-2 ms): libraries loaded since the last
            # call (a BLAS or OpenMP runtime imported later) are limited too.
            _LIMIT_STATE["limiter"] = ThreadpoolController().limit(limits=1)
        _LIMIT_STATE["depth"] += 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT_STATE["depth"] -= 1
            if _LIMIT_STATE["depth"] == 0:
                _LIMIT_STATE["limiter"].restore_original_limits()
                _LIMIT_STATE["limiter"] = None


def single_threaded(device=None, *, enabled=True):
    """Context manager: one BLAS and one OpenMP thread, on the CPU only.

    Nothing is limited for a torch device other than the CPU, or when
    ``enabled`` is false. Entering from several threads at once is safe: the
    limits are restored when the last one leaves.
    """
    if not enabled or (device is not None and device.type != "cpu"):
        return contextlib.nullcontext()
    return _one_thread()
