"""Projector builders: the separable random projector of the lemma and MLPs."""

from ._separable import SeparableRandomProjector

__all__ = ["SeparableRandomProjector"]
