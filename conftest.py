"""Doctest collection of the package (the test paths include skvcreg/): the
examples of the MNE-Python module need the ``mne`` extra, so they are collected
only where MNE-Python is installed (as ``tests/test_mne.py`` skips without it)."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("mne") is None:
    collect_ignore.append("skvcreg/mne.py")
