"""Shared fixtures."""

import pytest


@pytest.fixture
def dask_client():
    """A ``distributed.Client`` on a real ``LocalCluster``: two single-threaded
    worker processes on loopback, no dashboard; closed, with its processes,
    when the test ends."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
