"""VCRegEmbedder's family: the estimator, its training loop and its loss.

- ``_estimator``: :class:`VCRegEmbedder` (validation, attributes, warnings);
- ``_solver``: the training loop;
- ``_loss``: the training losses built from :mod:`skvcreg.losses`;
- ``_dask``: dask arrays as training data.
"""

from ._estimator import VCRegEmbedder

__all__ = ["VCRegEmbedder"]
