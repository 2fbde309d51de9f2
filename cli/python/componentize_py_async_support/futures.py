"""Future ends under componentize-py's names (see :mod:`isyswasfa.pipes`)."""

from isyswasfa.pipes import FutureReader, FutureWriter

__all__ = ["FutureReader", "FutureWriter"]
