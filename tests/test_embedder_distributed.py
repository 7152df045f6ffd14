"""Tests of VCRegEmbedder's training on the ranks of a torch.distributed job (DDP).

One module-scoped fixture starts two gloo processes on this machine (spawn, TCP
on 127.0.0.1), runs every distributed scenario in them, and each rank returns
its results through a pickle file; the tests compare those with one-process runs
on the same global batches. The process group is destroyed and the processes
joined (or killed after a timeout) whatever happens. Each rank logs the scenario
it is in, so a rank that dies says where.
"""

import faulthandler
import importlib.util
import os
import pickle
import socket
import time
import traceback
from datetime import timedelta

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_wine

from skvcreg import VCRegEmbedder
from skvcreg._embedder._distributed import OneProcess, ProcessGroup
from skvcreg._embedder._loss import make_training_loss
from skvcreg._embedder._solver import _Training
from skvcreg.augmentations import TabularAugmentation
from skvcreg.projectors._mlp import make_mlp_projector

dist = pytest.importorskip("torch.distributed")
pytestmark = [
    pytest.mark.slow,  # the module's fixture starts two processes (about 10-25 s)
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed missing"),
    pytest.mark.filterwarnings("ignore:Training stopped at max_epochs"),
]

WORLD_SIZE = 2
TIMEOUT = 120  # seconds for the whole two-rank run, start-up included
# batch_size=25 on 178 rows: batches of 25 (shards of 13 and 12) and a last one
# of 3 rows (shards of 2 and 1), so uneven shards are exercised.
SMALL = dict(
    n_components=4,
    encoder_widths=(16,),
    projector_widths=(16, 16),
    batch_size=25,
    max_epochs=4,
    random_state=0,
)


def _data():
    X, _ = load_wine(return_X_y=True)
    return X


def _one_step_gradients(communicator):
    """Gradients and batch-norm statistics of one step on a 45-row global batch.

    The optimizer is SGD with a zero learning rate: the step fills the
    gradients (summed over the ranks) and leaves the parameters alone. Adam
    would hide a wrong factor on the gradients; the gradients themselves do not.
    """
    g = torch.Generator().manual_seed(0)
    X = torch.as_tensor(_data(), dtype=torch.float32)
    X = (X - X.mean(0)) / X.std(0)
    # No output biases, as in the estimator: no loss term sees a shift.
    kwargs = dict(output_bias=False, generator=g, dtype=torch.float32)
    encoder = make_mlp_projector(13, (16, 4), **kwargs)
    projector = make_mlp_projector(4, (16, 16), **kwargs)
    parameters = [*encoder.parameters(), *projector.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=0.0)
    loss_fn = make_training_loss("vicreg")
    training = _Training(encoder, projector, loss_fn, optimizer, g, communicator)
    training.modules.train()
    with communicator.synchronise_batch_norms(training.modules):
        values = training.step(X[:45], TabularAugmentation(X))
    statistics = [b.numpy().copy() for b in training.modules.buffers()]
    return {
        "loss": float(values["loss"]),
        "gradients": [p.grad.numpy().copy() for p in parameters],
        "buffers": statistics,
    }


# dask is optional; installed, it must import (a broken install fails here).
if importlib.util.find_spec("dask") is None:
    _dask_array = None
else:
    import dask.array

    def _dask_array(X):
        return dask.array.from_array(X, chunks=(90, -1))


def _fitted(model, X):
    return {
        "loss_curve": model.loss_curve_,
        "variance_curve": model.variance_curve_,
        "n_iter": model.n_iter_,
        "Z": model.transform(X),
        "state": {k: v.numpy().copy() for k, v in model.encoder_.state_dict().items()},
    }


def _error(function):
    try:
        function()
    except ValueError as error:
        return str(error)
    return None


def _rank_main(rank, port, out_dir):
    """One rank: every distributed scenario, results pickled to ``out_dir``."""
    with open(os.path.join(out_dir, f"rank{rank}.log"), "w", buffering=1) as log:
        # A crash in C++ (an abort) writes every thread's Python stack to the log.
        faulthandler.enable(log, all_threads=True)
        try:
            _run_rank(rank, port, out_dir, log)
        finally:
            faulthandler.disable()
    # What the tests check ends here. Leave without the interpreter's teardown:
    # torch's C++ destructors at exit are not under test, and the results are
    # written (test_no_process_group_thread_outlives_destroy checks that no
    # thread of the group is left for them).
    os._exit(0)


def _import_what_the_first_optimizer_step_imports():
    """One optimizer step on a throw-away parameter, before the group exists.

    torch.optim's first step imports torch._dynamo and with it
    torch.distributed._shard, whose import, once a process group is initialised,
    keeps references to the default group: destroy_process_group then leaves the
    group, the TCP store's server and gloo's threads running until the
    interpreter's teardown destroys them (where a rank once aborted, "terminate
    called without an active exception"). Done first, the import finds no group.
    """
    parameter = torch.nn.Parameter(torch.zeros(1))
    parameter.grad = torch.zeros(1)
    torch.optim.AdamW([parameter]).step()


def _run_rank(rank, port, out_dir, log):
    """The scenarios, each named in ``log`` as it starts; results to a pickle."""
    torch.set_num_threads(1)
    results = {}
    _import_what_the_first_optimizer_step_imports()
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=TIMEOUT),
    )

    def run(name, function):
        log.write(f"{name}\n")
        results[name] = function()

    try:
        X = _data()
        run("step", lambda: _one_step_gradients(ProcessGroup()))
        run("fit", lambda: _fitted(VCRegEmbedder(**SMALL).fit(X), X))
        # random_state=None draws another seed on each rank: rank 0's is used.
        unseeded = {**SMALL, "random_state": None}
        run("unseeded", lambda: _fitted(VCRegEmbedder(**unseeded).fit(X), X))
        run(
            "partial",
            lambda: _fitted(
                VCRegEmbedder(**SMALL).partial_fit(X[:100]).partial_fit(X[100:]), X
            ),
        )
        if _dask_array is not None:
            run("dask", lambda: _fitted(VCRegEmbedder(**SMALL).fit(_dask_array(X)), X))
        narrow = X if rank == 0 else X[:, :-1]
        run("width_error", lambda: _error(lambda: VCRegEmbedder(**SMALL).fit(narrow)))
        reversed_ = X if rank == 0 else X[::-1]
        run("rows_error", lambda: _error(lambda: VCRegEmbedder(**SMALL).fit(reversed_)))
        bad = X.copy()
        if rank == 1:
            bad[3, 2] = np.nan
        run("nan_error", lambda: _error(lambda: VCRegEmbedder(**SMALL).fit(bad)))
        other = {**SMALL, "batch_size": 25 + rank}
        run("params_error", lambda: _error(lambda: VCRegEmbedder(**other).fit(X)))
        log.write("barrier\n")
        # Both ranks are done with the group before either tears it down.
        dist.barrier()
    except BaseException:
        results["crash"] = traceback.format_exc()
    finally:
        log.write("destroy_process_group\n")
        dist.destroy_process_group()
        results["threads_after_destroy"] = _process_group_threads()
        with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as file:
            pickle.dump(results, file)
        log.write("done\n")


# Names of the native threads of the TCP store's server and of gloo.
_PROCESS_GROUP_THREADS = ("pt_tcpstore", "gloo", "pt_gloo")


def _process_group_threads(wait=5.0):
    """This process's process-group threads still running (Linux; None elsewhere).

    Waits up to ``wait`` seconds for them to end.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            tasks = os.listdir("/proc/self/task")
        except OSError:
            return None
        names = []
        for task in tasks:
            try:
                with open(f"/proc/self/task/{task}/comm") as file:
                    names.append(file.read().strip())
            except OSError:  # the thread ended meanwhile
                pass
        alive = [name for name in names if name.startswith(_PROCESS_GROUP_THREADS)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ranks(out_dir):
    """Run ``_rank_main`` on two spawned processes; their results, by rank."""
    context = torch.multiprocessing.start_processes(
        _rank_main,
        args=(_free_port(), str(out_dir)),
        nprocs=WORLD_SIZE,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT
    try:
        while not context.join(timeout=max(0.1, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the two ranks did not finish within {TIMEOUT} s\n"
                    + _rank_logs(out_dir)
                )
    except torch.multiprocessing.ProcessExitedException as error:
        # An exit code (a Python error) or a signal (an abort: faulthandler has
        # written every thread's stack to the rank's log).
        pytest.fail(f"{error}\n{_rank_logs(out_dir)}")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
            process.join(10)
    results = []
    for rank in range(WORLD_SIZE):
        with open(out_dir / f"rank{rank}.pkl", "rb") as file:
            results.append(pickle.load(file))
        assert "crash" not in results[-1], results[-1]["crash"]
    return results


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """The two ranks' results; a rank that dies fails the tests, with its log."""
    return _run_ranks(tmp_path_factory.mktemp("ddp"))


def _rank_logs(out_dir):
    """Each rank's log: the scenarios it entered, and any crash's stacks."""
    texts = []
    for rank in range(WORLD_SIZE):
        path = out_dir / f"rank{rank}.log"
        text = path.read_text() if path.exists() else "(no log)\n"
        texts.append(f"--- rank {rank} ---\n{text}")
    return "".join(texts)


def _assert_same_model(a, b):
    assert a["state"].keys() == b["state"].keys()
    for key in a["state"]:
        assert_array_equal(a["state"][key], b["state"][key], err_msg=key)


def test_gradients_of_a_step_are_those_of_the_global_batch(ranks):
    """The ranks' summed gradients equal the one-process gradient of the batch.

    Each rank back-propagates the global loss through its own rows (and through
    the global batch-norm statistics), so the sum over ranks is the full
    gradient: a mean instead of the sum would halve every entry here.
    """
    single = _one_step_gradients(OneProcess())
    scale = max(np.abs(g).max() for g in single["gradients"])
    for result in ranks:
        step = result["step"]
        assert_allclose(step["loss"], single["loss"], rtol=1e-6)
        for got, expected in zip(step["gradients"], single["gradients"], strict=True):
            # float32 sums in another order (shards, float64 batch-norm sums);
            # gradients of order 1, and half (or twice) the sum would fail.
            assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * scale)
        for got, expected in zip(step["buffers"], single["buffers"], strict=True):
            assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    first, second = (result["step"]["gradients"] for result in ranks)
    for a, b in zip(first, second, strict=True):
        assert_array_equal(a, b)


def test_every_rank_ends_with_the_same_model(ranks):
    scenarios = ("fit", "unseeded", "partial", "dask")  # dask: when installed
    for scenario in (name for name in scenarios if name in ranks[0]):
        _assert_same_model(ranks[0][scenario], ranks[1][scenario])
        assert_array_equal(ranks[0][scenario]["Z"], ranks[1][scenario]["Z"])


def test_two_ranks_train_as_one_process_on_the_same_global_batches(ranks):
    X = _data()
    single = _fitted(VCRegEmbedder(**SMALL).fit(X), X)
    fit = ranks[0]["fit"]
    assert fit["n_iter"] == single["n_iter"] == 4
    # Same batches and views; float32 reductions in another order (shards,
    # float64 batch-norm statistics), so agreement to round-off, amplified a
    # little over 4 epochs of training.
    assert_allclose(fit["loss_curve"], single["loss_curve"], rtol=1e-4)
    assert_allclose(fit["variance_curve"], single["variance_curve"], rtol=1e-4)
    assert_allclose(fit["Z"], single["Z"], rtol=1e-3, atol=1e-4)
    partial = VCRegEmbedder(**SMALL).partial_fit(X[:100]).partial_fit(X[100:])
    assert_allclose(ranks[0]["partial"]["Z"], partial.transform(X), atol=1e-4)
    if _dask_array is not None:  # streamed chunks, in the same order
        streamed = VCRegEmbedder(**SMALL).fit(_dask_array(X))
        assert_allclose(ranks[0]["dask"]["Z"], streamed.transform(X), atol=1e-4)


def test_ranks_given_different_widths_all_raise(ranks):
    for result in ranks:
        assert result["width_error"] == (
            "VCRegEmbedder was given data of different widths on the ranks of the "
            "torch.distributed job (rank 0: 13 features, rank 1: 12 features); "
            "every rank must fit on the same rows, and each computes its share of "
            "every batch."
        )


def test_ranks_given_different_rows_or_parameters_all_raise(ranks):
    for result in ranks:
        assert "given different rows" in result["rows_error"]
        assert "different parameters on the ranks" in result["params_error"]


def test_bad_data_on_one_rank_raises_on_every_rank(ranks):
    assert ranks[1]["nan_error"].startswith("Input X contains NaN.")
    assert ranks[0]["nan_error"].startswith(
        "Rank 1 of the torch.distributed job could not use its data (ValueError: "
        "Input X contains NaN."
    )


def test_no_process_group_thread_outlives_destroy(ranks):
    """After destroy_process_group no thread of the store or of gloo runs.

    A process whose group outlives destroy_process_group keeps these threads
    until the interpreter's teardown destroys them, where a rank once aborted
    in CI ("terminate called without an active exception"): the training's
    first optimizer step, run after the group was initialised, imported a
    torch module that keeps references to the default group
    (``_import_what_the_first_optimizer_step_imports``).
    """
    for rank, result in enumerate(ranks):
        threads = result["threads_after_destroy"]
        if threads is None:
            pytest.skip("needs /proc to list a process's threads")
        assert threads == [], f"rank {rank}: {threads}"
