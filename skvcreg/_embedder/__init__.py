"""VCRegEmbedder's family: the estimator, its training loop and its loss.

- ``_estimator``: :class:`VCRegEmbedder` (validation, attributes, warnings);
- ``_solver``: the training loop;
- ``_loss``: the training losses built from :mod:`skvcreg.losses`.

Data enter through :mod:`skvcreg._data` (arrays in memory and dask arrays alike).
"""

from ._estimator import VCRegEmbedder

__all__ = ["VCRegEmbedder"]
