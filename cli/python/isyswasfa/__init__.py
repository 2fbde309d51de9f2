"""isyswasfa for Python guests: ``async def`` components on WASI 0.2 hosts.

componentize-py builds the component from the *lowered* world (each ``async func`` a
``-isyswasfa-start``/``-isyswasfa-result`` pair, plus the poll export); ``isyswasfa build-py``
generates the glue that turns those plain bindings back into the API a native WASI 0.3
componentize-py guest sees (``wit_world``), on top of this package:

- :mod:`isyswasfa.loop`: the asyncio event loop, driven by the poll export;
- :mod:`isyswasfa.tasks`: the task protocol (exports, imports, cancellation, timers, pollables);
- :mod:`isyswasfa.pipes`: ``stream<T>`` / ``future<T>`` ends.

Application code uses :func:`spawn` (also reachable as ``componentize_py_async_support.spawn``)
and :func:`wait_pollable`; the rest is for the generated glue.
"""

from .tasks import spawn, wait_pollable, table_sizes

__all__ = ["spawn", "wait_pollable", "table_sizes"]
