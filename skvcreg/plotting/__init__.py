"""Display objects (scikit-learn style: ``from_estimator``, ``plot(ax=...)``).

matplotlib is an optional dependency, imported only when a display is drawn.
"""

from ._certificate import SeparationCertificateDisplay
from ._pairwise_independence import PairwiseIndependenceDisplay

__all__ = ["PairwiseIndependenceDisplay", "SeparationCertificateDisplay"]
