"""Write the offline intersphinx inventories for NumPy, PyTorch and MNE.

The documentation is built on machines with no network (CI included), so
``conf.py`` falls back to inventories stored in this folder when the live ones
cannot be fetched. For Python, SciPy and scikit-learn these are the real
``objects.inv`` files shipped by Debian's documentation packages
(``python3.11-doc`` 3.11.2, ``python-scipy-doc`` 1.10.1,
``python-sklearn-doc`` 1.2.1). Debian ships no NumPy, PyTorch or MNE documentation,
so this script writes a small inventory for each, listing the objects our pages
refer to, at the addresses those projects' documentation uses (checked against
the published pages). Run it from this folder after adding a reference::

    python write_offline_inventories.py
"""

import zlib
from pathlib import Path

NUMPY = {
    "numpy.ndarray": ("py:class", "reference/generated/numpy.ndarray.html"),
    "numpy.float32": ("py:attribute", "reference/arrays.scalars.html"),
    "numpy.float64": ("py:attribute", "reference/arrays.scalars.html"),
    "numpy.random.Generator": ("py:class", "reference/random/generator.html"),
    "numpy.random.RandomState": ("py:class", "reference/random/legacy.html"),
    "numpy.random.default_rng": (
        "py:function",
        "reference/random/generator.html",
    ),
    "numpy.cov": ("py:function", "reference/generated/numpy.cov.html"),
    "numpy.linalg.eigh": ("py:function", "reference/generated/numpy.linalg.eigh.html"),
}

# Glossary terms (numpydoc links "array-like" to numpy's "array_like").
NUMPY_TERMS = {"array_like": "glossary.html#term-array_like"}

TORCH = {
    "torch.Tensor": ("py:class", "tensors.html"),
    "torch.device": ("py:class", "tensor_attributes.html"),
    "torch.dtype": ("py:class", "tensor_attributes.html"),
    "torch.Generator": ("py:class", "generated/torch.Generator.html"),
    "torch.nn.Module": ("py:class", "generated/torch.nn.Module.html"),
    "torch.nn.Sequential": ("py:class", "generated/torch.nn.Sequential.html"),
    "torch.nn.Linear": ("py:class", "generated/torch.nn.Linear.html"),
    "torch.nn.BatchNorm1d": ("py:class", "generated/torch.nn.BatchNorm1d.html"),
    "torch.optim.AdamW": ("py:class", "generated/torch.optim.AdamW.html"),
}

# MNE-Python's API pages (https://mne.tools/stable/), for skvcreg.mne.
_ICA_PAGE = "generated/mne.preprocessing.ICA.html"
MNE = {
    "mne.Covariance": ("py:class", "generated/mne.Covariance.html"),
    "mne.Epochs": ("py:class", "generated/mne.Epochs.html"),
    "mne.io.Raw": ("py:class", "generated/mne.io.Raw.html"),
    "mne.preprocessing.ICA": ("py:class", _ICA_PAGE),
    "mne.preprocessing.ICA.fit": ("py:method", _ICA_PAGE),
    "mne.preprocessing.read_ica": (
        "py:function",
        "generated/mne.preprocessing.read_ica.html",
    ),
}


def write_inventory(path, project, version, entries, terms=None):
    """Write a version-2 Sphinx inventory: a text header, then zlib'd lines."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    # name domain:role priority uri display-name; "$" in the uri stands for the
    # name and "-" for a display name equal to the name.
    lines = "".join(
        f"{name} {role} 1 {page}#$ -\n"
        for name, (role, page) in sorted(entries.items())
    )
    terms = terms or {}
    lines += "".join(f"{term} std:term -1 {page} -\n" for term, page in terms.items())
    Path(path).write_bytes(header.encode() + zlib.compress(lines.encode()))


if __name__ == "__main__":
    here = Path(__file__).parent
    write_inventory(here / "numpy.inv", "NumPy", "2.4", NUMPY, NUMPY_TERMS)
    write_inventory(here / "torch.inv", "PyTorch", "2.13", TORCH)
    write_inventory(here / "mne.inv", "MNE", "1.13", MNE)
