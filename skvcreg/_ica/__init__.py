"""VCRegICA's family: the estimator, its solver and the solver's stages.

- ``_estimator``: :class:`VCRegICA` (validation, whitening, attributes, warnings);
- ``_whitening``: centring and whitening over row chunks;
- ``_solver``: :func:`solve_ica`, the one entry point of the optimisation;
- ``_rotation``: the kernel stage (Jacobi sweeps on a kernel contrast);
- ``_refine``: the score refinement (semiparametric maximum likelihood).

Data enter through :mod:`skvcreg._data` (arrays in memory and dask arrays alike).
"""

from ._estimator import VCRegICA

__all__ = ["VCRegICA"]
