"""Shared fixtures, and the switch that makes a broken optional package fail.

With ``SKVCREG_REQUIRE_EXTRAS=1`` in the environment (CI sets it), a test or test
module that ``pytest.importorskip`` skips fails instead when the package it needs
is installed but cannot be imported (an optional dependency too old or too new
for the others, as dask-ml 2024.4 beside scikit-learn 1.6); a package that is not
installed still skips.
"""

import importlib.util
import os
import re

import pytest

REQUIRE_EXTRAS = os.environ.get("SKVCREG_REQUIRE_EXTRAS", "") == "1"
# The message of pytest.importorskip's skip: "could not import 'name': reason".
_IMPORT_SKIP = re.compile(r"could not import '([^']+)'")


def _broken_import(message):
    """The module an import skip's ``message`` names, if it is installed."""
    match = _IMPORT_SKIP.search(message)
    if match is None or importlib.util.find_spec(match[1].split(".")[0]) is None:
        return None
    return match[1]


def _fail_if_broken_import(report, message, where):
    module = _broken_import(message) if REQUIRE_EXTRAS and report.skipped else None
    if module is not None:
        report.outcome = "failed"
        report.longrepr = (
            f"SKVCREG_REQUIRE_EXTRAS=1: {module!r} is installed but cannot be "
            f"imported, so {where} would skip: {message}"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that skips on a broken import fails (SKVCREG_REQUIRE_EXTRAS=1)."""
    report = (yield).get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        _fail_if_broken_import(report, str(call.excinfo.value), item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module that skips on a broken import fails (SKVCREG_REQUIRE_EXTRAS=1)."""
    report = (yield).get_result()
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, message)
        _fail_if_broken_import(report, report.longrepr[2], collector.nodeid)


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
