"""Projector builders: the separable random projector of the lemma and MLPs."""

from ._mlp import make_mlp_projector
from ._separable import SeparableRandomProjector

__all__ = ["SeparableRandomProjector", "make_mlp_projector"]
