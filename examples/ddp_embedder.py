"""Train VCRegEmbedder on several processes with torch.distributed (DDP).

Not a gallery example: a script to launch with ``torchrun``. On two CPU processes
(gloo)::

    torchrun --nproc-per-node 2 examples/ddp_embedder.py

or as one plain process, to compare::

    python examples/ddp_embedder.py

``VCRegEmbedder.fit`` sees the initialised process group and trains on all its
ranks: every rank holds the same rows and draws the same global batches and views,
computes the networks on its share of each batch, all-gathers the projector
outputs so that the loss (its covariance above all) is that of the global batch,
and the ranks sum their gradients. Every rank ends with the same model, equal to
the one-process model up to float32 round-off; rank 0 prints the loss curve and
the time per epoch.

On GPUs, launch one process per GPU: the script then uses NCCL and puts each rank
on the GPU of its local rank (``torch.cuda.set_device(LOCAL_RANK)``, after which
``device="cuda"`` means that GPU). With gloo on CPUs, give each process its share
of the cores (``--threads``, by default the cores divided among the local
processes).
"""

import argparse
import os
import time
import warnings

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvcreg import VCRegEmbedder


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--curve-file", default=None, help="save the loss curve (numpy .npy) here"
    )
    return parser.parse_args()


def _start():
    """Initialise the process group when launched by torchrun; the device."""
    if "RANK" not in os.environ:  # a plain process
        return "cuda" if torch.cuda.is_available() else "cpu"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl")
        return "cuda"
    dist.init_process_group("gloo")
    return "cpu"


def main():
    args = _arguments()
    # Expected here: a fixed number of epochs (to time them), and the digits'
    # always-blank corner pixels, which the embedder maps to zero.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", message=".*feature\\(s\\) are constant")
    device = _start()
    try:
        rank = dist.get_rank() if dist.is_initialized() else 0
        world_size = dist.get_world_size() if dist.is_initialized() else 1
        local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // local))
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=0
        )
        embedder = VCRegEmbedder(
            n_components=64,
            batch_size=args.batch_size,
            max_epochs=args.epochs,
            tol=0.0,  # run every epoch, to time them
            device=device,
            random_state=0,
        )
        start = time.perf_counter()
        embedder.fit(X_train)
        elapsed = time.perf_counter() - start
        if rank == 0:
            backend = dist.get_backend() if dist.is_initialized() else "none"
            print(
                f"{world_size} process(es), backend {backend}, device {device}, "
                f"{torch.get_num_threads()} thread(s) each, global batch "
                f"{args.batch_size}"
            )
            print(
                f"{embedder.n_iter_} epochs in {elapsed:.1f} s: "
                f"{elapsed / embedder.n_iter_:.2f} s per epoch"
            )
            print("loss curve:", np.array2string(embedder.loss_curve_, precision=3))
            if args.curve_file:
                np.save(args.curve_file, embedder.loss_curve_)
            probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            probe.fit(embedder.transform(X_train), y_train)
            accuracy = probe.score(embedder.transform(X_test), y_test)
            print(f"linear probe accuracy on the representation: {accuracy:.3f}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
