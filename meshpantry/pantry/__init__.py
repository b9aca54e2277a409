"""The household's actions and questions, as one object: :class:`Pantry`."""

from .household import Pantry, open_sealed, seal_to

__all__ = ["Pantry", "open_sealed", "seal_to"]
