"""Sphinx configuration of the skvcreg documentation.

Build it from the repository root, warnings as errors (CI runs the same)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery examples (``examples/plot_*.py``) run during the build and each one
asserts the claim it shows, so a failing claim fails the build.
"""

import os
import warnings
from pathlib import Path

import skvcreg

os.environ.setdefault("MPLBACKEND", "Agg")

project = "skvcreg"
author = "the skvcreg developers"
copyright = "2026, the skvcreg developers"  # noqa: A001 - Sphinx's name
version = release = skvcreg.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "_intersphinx"]
templates_path = ["_templates"]
default_role = "literal"

# -- API reference -------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Parameter types link to the aliases below and nothing else (fitted
# attributes in types are written in backquotes, as scikit-learn does).
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"
# Every public object and method needs a docstring with a summary and its
# parameters documented; the build fails otherwise. tests/test_docstrings.py
# also requires an Examples section in every public class and function.
numpydoc_validation_checks = {"GL08", "SS01", "PR01", "PR02"}
numpydoc_validation_exclude = {
    r"\.__init__$",
    r"\.__call__$",
    r"\.__repr__$",
    r"\.forward$",
    r"\.extra_repr$",
    # Methods inherited from scikit-learn or torch, documented there.
    r"\.(set_output|set_params|get_params|get_metadata_routing|fit_transform)$",
    r"\.set_\w+_request$",
}

# -- Cross-references ----------------------------------------------------------
# The live inventories are tried first; on a machine with no network (CI) the
# copies in _intersphinx/ are used (see _intersphinx/write_offline_inventories.py).
_offline = str(Path(__file__).parent / "_intersphinx")
intersphinx_mapping = {
    name: (url, (f"{url}objects.inv", f"{_offline}/{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/",
        "sklearn": "https://scikit-learn.org/stable/",
        "torch": "https://docs.pytorch.org/docs/stable/",
        "mne": "https://mne.tools/stable/",
    }.items()
}
intersphinx_timeout = 5

# -- Gallery -------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Scripts not named plot_* (such as the torchrun script ddp_embedder.py) are
    # not gallery examples.
    "ignore_pattern": r"^(?!plot_).*\.py$",
    "abort_on_example_error": True,
    "doc_module": ("skvcreg",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skvcreg": None},
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
}
# matplotlib's Agg backend warns that it cannot show figures; harmless here.
warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skvcreg {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
