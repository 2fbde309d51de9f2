"""componentize-py's ``componentize_py_async_support`` names, for isyswasfa guests.

A native WASI 0.3 guest built by componentize-py imports ``spawn`` (and the stream and future
classes) from here; isyswasfa provides the same names on top of :mod:`isyswasfa`, so the same
application source builds both ways.
"""

from isyswasfa.tasks import spawn

__all__ = ["spawn"]
