"""skvcreg: Variance-Covariance Regularization for scikit-learn users.

VCReg applied to the output of a separable random projector makes the projector's
*inputs* pairwise independent (Mialon, Balestriero & LeCun, arXiv 2209.14905). The
package turns that into a blind source separation estimator (:class:`VCRegICA`),
self-supervised tabular representations (:class:`VCRegEmbedder`), independence
metrics (:mod:`skvcreg.metrics`) and source generators
(:mod:`skvcreg.datasets`).
"""

__version__ = "0.1.0"

from ._embedder import VCRegEmbedder
from ._ica import VCRegICA

__all__ = ["VCRegEmbedder", "VCRegICA", "__version__"]
