"""Independence and separation metrics.

- HSIC family with Gaussian kernels: :func:`hsic`, :func:`pairwise_hsic` (all
  pairs of columns at once), the tests :func:`hsic_test` and
  :func:`pairwise_hsic_test`, and the joint-independence criterion :func:`dhsic`
  with :func:`dhsic_test`.
- Scoring of representations: :func:`pairwise_independence_score` and the
  ``scoring=`` callable :class:`PairwiseIndependenceScorer`.
- Blind source separation: :func:`amari_distance`, :func:`match_sources` and
  :func:`separation_certificate` (the precision of each component of any ICA)
  with its resampling check :func:`separation_stability`.
"""

from ._amari import SourceMatch, amari_distance, match_sources
from ._certificate import (
    SeparationCertificate,
    separation_certificate,
    separation_stability,
)
from ._dhsic import dhsic, dhsic_test
from ._hsic import hsic, pairwise_hsic
from ._independence_tests import hsic_test, pairwise_hsic_test
from ._scorer import PairwiseIndependenceScorer, pairwise_independence_score

__all__ = [
    "PairwiseIndependenceScorer",
    "SeparationCertificate",
    "SourceMatch",
    "amari_distance",
    "dhsic",
    "dhsic_test",
    "hsic",
    "hsic_test",
    "match_sources",
    "pairwise_hsic",
    "pairwise_hsic_test",
    "pairwise_independence_score",
    "separation_certificate",
    "separation_stability",
]
