"""``stream<T>`` and ``future<T>`` ends, with componentize-py's (WASI 0.3) Python API.

A pipe lives in the host; the component holds handles to its ends, resources of the pipe's
interface (``isyswasfa:pipes/<name>``). Reads and writes are plain calls of the component's ops
interface; only waiting until a pipe is readable or writable goes through the task protocol.

The classes and methods are those of componentize-py's ``componentize_py_async_support.streams``
and ``.futures`` (``read``, ``write``, ``write_all``, ``writer_dropped``, ``reader_dropped``,
``with`` to close), so code written for a native WASI 0.3 component reads the same. Differences:

- ``FutureWriter.write`` completes once the host holds the value, not once the reader took it.
- an end that is neither closed nor passed on is closed when it is garbage collected (CPython
  does that as soon as the last reference goes), as in componentize-py.
"""

import weakref

from componentize_py_types import Err

from . import tasks


class PipeOps:
    """The operations of one payload type, filled in by the generated glue.

    ``new()`` returns the (writer, reader) resources; ``read``/``write`` are the typed ops;
    ``wait_readable``/``wait_writable`` the (start, result) halves of the lowered waits;
    ``lift``/``lower`` convert payload values between the bindings' and the façade's types
    (``None`` when the payload holds no stream or future).
    """

    def __init__(self, name, new, read, write, wait_readable, wait_writable=None,
                 unit=False, lift=None, lower=None):
        self.name = name
        self.new = new
        self.read = read
        self.write = write
        self.wait_readable = wait_readable
        self.wait_writable = wait_writable
        self.unit = unit
        self.lift = lift or (lambda value: value)
        self.lower = lower or (lambda value: value)


async def _wait(halves, end):
    """Runs a lowered wait (``wait-readable`` / ``wait-writable``) on ``end``; returns its value."""
    start, result = halves
    try:
        return start(end)
    except Err as error:
        pending = error.value
    ready = await tasks.await_ready(pending)
    return result(ready)


class _End:
    """An owned pipe end: closed with ``with`` / :meth:`close`, given away when passed on."""

    def __init__(self, ops, end):
        self._ops = ops
        self._end = end

    def _handle(self):
        if self._end is None:
            raise AssertionError(f"isyswasfa: this {type(self).__name__} was closed or passed on")
        return self._end

    def _take(self):
        """Gives the resource away (the bindings pass it as `own`)."""
        end = self._handle()
        self._end = None
        return end

    def close(self):
        end, self._end = self._end, None
        if end is not None:
            end.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()
        return None


class StreamReader(_End):
    """The readable end of a ``stream<T>``."""

    def __init__(self, ops, end):
        super().__init__(ops, end)
        self.writer_dropped = False

    def _empty(self):
        return []

    async def read(self, max_count):
        """Reads up to ``max_count`` items, waiting until at least one is there; an empty result
        means the writer is gone (``writer_dropped`` is then set)."""
        if self.writer_dropped or max_count <= 0:
            return self._empty()
        ops = self._ops
        while True:
            end = self._handle()
            values = ops.read(end, max_count)
            if values is None:
                self.writer_dropped = True
                return self._empty()
            if len(values) > 0:
                return self._lift(values)
            await _wait(ops.wait_readable, end)

    def _lift(self, values):
        return [self._ops.lift(value) for value in values]


class ByteStreamReader(StreamReader):
    """The readable end of a ``stream<u8>``: reads give ``bytes``."""

    def _empty(self):
        return b""

    def _lift(self, values):
        return bytes(values)


class StreamWriter(_End):
    """The writable end of a ``stream<T>``. Closing it ends the stream."""

    #: The most values one write offers (a value stream's default buffer).
    MAX_OFFER = 64

    def __init__(self, ops, end):
        super().__init__(ops, end)
        self.reader_dropped = False

    def _lower(self, values):
        return [self._ops.lower(value) for value in values]

    async def write(self, source):
        """Writes as many of ``source`` as the stream has room for, waiting for room first;
        returns how many were written (0 once the reader is gone: ``reader_dropped``)."""
        if self.reader_dropped:
            return 0
        if len(source) == 0:
            return 0
        end = self._handle()
        if not await _wait(self._ops.wait_writable, end):
            self.reader_dropped = True
            return 0
        # Offer one buffer's worth at a time: the host takes at most what fits and hands the
        # rest back (a copy), and refuses a byte write of more than 4 MiB.
        offer = source[: self.MAX_OFFER]
        rest = self._ops.write(self._handle(), self._lower(offer))
        written = len(offer) - len(rest)
        if written == 0:
            self.reader_dropped = True
        return written

    async def write_all(self, source):
        """Writes all of ``source``, waiting for room as often as needed; returns how many items
        were written (fewer when the reader went away)."""
        # One offer's worth sliced at a time: slicing off the rest after each write would copy
        # the whole remainder every time (quadratic in the size of ``source``).
        total = 0
        while total < len(source) and not self.reader_dropped:
            total += await self.write(source[total : total + self.MAX_OFFER])
        return total


class ByteStreamWriter(StreamWriter):
    """The writable end of a ``stream<u8>``: writes take ``bytes``."""

    #: The most bytes one write offers (a byte stream's default buffer).
    MAX_OFFER = 64 * 1024

    def _lower(self, values):
        return bytes(values)


class FutureReader(_End):
    """The readable end of a ``future<T>``."""

    async def read(self):
        """The value (consumes this end)."""
        ops = self._ops
        end = self._handle()
        await _wait(ops.wait_readable, end)
        value = ops.read(self._take())
        if ops.unit:
            if not value:
                raise RuntimeError("isyswasfa: the writer of a future went away without writing")
            return None
        if value is None:
            raise RuntimeError("isyswasfa: the writer of a future went away without writing a value")
        return ops.lift(value)


def _write_default(ops, end, default):
    """Finalizer of an unwritten :class:`FutureWriter`: sends its default value."""
    try:
        ops.write(end, None if ops.unit else ops.lower(default()))
    except Exception:  # the component is going away, or the reader is; nothing to tell
        pass


class FutureWriter(_End):
    """The writable end of a ``future<T>``. Dropped without a write, it sends its default."""

    def __init__(self, ops, end, default=None):
        super().__init__(ops, end)
        self._finalizer = None
        if default is not None:
            self._finalizer = weakref.finalize(self, _write_default, ops, end, default)

    def _detach(self):
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def _take(self):
        self._detach()
        return super()._take()

    async def write(self, value):
        """Sends ``value`` (consumes this end); ``False`` when the reader is gone."""
        ops = self._ops
        end = self._take()
        rest = ops.write(end) if ops.unit else ops.write(end, ops.lower(value))
        if ops.unit:
            return bool(rest)
        return rest is None

    def close(self):
        finalizer = self._finalizer
        if finalizer is not None and self._end is not None:
            self._end = None
            self._finalizer = None
            finalizer()
            return
        super().close()


def new_stream(ops):
    """A new ``stream<T>``: (writer, reader), bytes-typed for ``stream<u8>``."""
    writer, reader = ops.new()
    if ops.name == "stream-u8":
        return ByteStreamWriter(ops, writer), ByteStreamReader(ops, reader)
    return StreamWriter(ops, writer), StreamReader(ops, reader)


def new_future(ops, default):
    """A new ``future<T>``: (writer, reader); the writer sends ``default()`` if dropped unwritten."""
    writer, reader = ops.new()
    return FutureWriter(ops, writer, default), FutureReader(ops, reader)


def lift_stream(ops, end):
    """Wraps a reader resource received from the bindings."""
    if ops.name == "stream-u8":
        return ByteStreamReader(ops, end)
    return StreamReader(ops, end)


def lift_future(ops, end):
    """Wraps a future reader resource received from the bindings."""
    return FutureReader(ops, end)


def lower_end(value):
    """The resource of a façade end, given away to the bindings."""
    return value._take()
