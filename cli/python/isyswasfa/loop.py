"""The asyncio event loop of an isyswasfa Python component.

A component never blocks and never runs on its own: the host enters it (an export call, or its
poll export), the component runs every callback that is ready, and returns. So this loop has no
``run_forever``: :meth:`ComponentLoop.run_until_stalled` runs the ready callbacks and returns once
none is left (or after :data:`MAX_CALLBACKS_PER_RUN`, so that a task that keeps rescheduling
itself does not keep the host out; the caller then asks the host to come back).

Timers (``asyncio.sleep``, ``asyncio.wait_for`` timeouts, ``call_later``) are host tasks: each one
starts the lowered ``wasi:clocks/monotonic-clock@0.3.0`` ``wait-for`` import and fires when the
host reports it ready through the poll export, so a sleeping component costs the host nothing.
"""

import asyncio
import collections
import sys
import time
import traceback

#: How many ready callbacks one entry into the component runs before it returns to the host
#: with work left (asyncio runs one callback per task step).
MAX_CALLBACKS_PER_RUN = 1024


class _HostTimer(asyncio.TimerHandle):
    """A ``call_at`` timer backed by a host clock task; cancelling it cancels the host task."""

    __slots__ = ("_stop_wait",)

    def cancel(self):
        if not self._cancelled:
            stop = getattr(self, "_stop_wait", None)
            self._stop_wait = None
            if stop is not None:
                stop()
        super().cancel()


class ComponentLoop(asyncio.AbstractEventLoop):
    """An asyncio loop driven by the host through the component's exports.

    ``timer_start`` is set by :mod:`isyswasfa.tasks` once the bindings are known: it starts a host
    wait of a duration (in nanoseconds) and calls its callback when it is over; it returns a
    function that cancels the wait (``None`` when it was over at once).
    """

    def __init__(self):
        self._ready = collections.deque()
        #: The first exception that must end the component (an uncaught one in a spawned task).
        self.fatal = None
        self.timer_start = None

    # --- what asyncio's tasks and futures call -------------------------------------------------

    def call_soon(self, callback, *args, context=None):
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(self, delay, callback, *args, context=None):
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(self, when, callback, *args, context=None):
        timer = _HostTimer(when, callback, args, self, context)
        if self.timer_start is None:
            raise RuntimeError(
                "isyswasfa: timers need the lowered wasi:clocks/monotonic-clock@0.3.0 import "
                "(build with `isyswasfa build-py`, which adds it)"
            )
        # `wait-for` a duration rather than `wait-until` an instant: the loop's clock is the
        # WASI 0.2 one Python's `time` reads, which need not share the 0.3 clock's origin.
        delay_ns = max(0, int((when - self.time()) * 1_000_000_000))

        def fire():
            timer._stop_wait = None
            if not timer._cancelled:
                self._ready.append(timer)

        timer._stop_wait = self.timer_start(delay_ns, fire)
        return timer

    def _timer_handle_cancelled(self, handle):
        pass

    def time(self):
        # The same clock as the host's `wait-until`: WASI's monotonic clock, in seconds.
        return time.monotonic_ns() / 1_000_000_000

    def create_future(self):
        return asyncio.Future(loop=self)

    def create_task(self, coro, *, name=None, context=None, **kwargs):
        return asyncio.Task(coro, loop=self, name=name, context=context, **kwargs)

    def get_debug(self):
        return False

    def is_running(self):
        return True

    def is_closed(self):
        return False

    def close(self):
        pass

    def stop(self):
        pass

    async def shutdown_asyncgens(self):
        pass

    def get_exception_handler(self):
        return None

    def set_exception_handler(self, handler):
        raise NotImplementedError("isyswasfa: the component's loop reports errors itself")

    def default_exception_handler(self, context):
        self.call_exception_handler(context)

    def call_exception_handler(self, context):
        """Reports an error asyncio could not hand to anyone (e.g. a task nobody awaited)."""
        message = context.get("message", "unhandled error in the component's event loop")
        exception = context.get("exception")
        print(f"isyswasfa: {message}", file=sys.stderr)
        if exception is not None:
            traceback.print_exception(exception, file=sys.stderr)

    # --- driving it ------------------------------------------------------------------------------

    def run_until_stalled(self):
        """Runs ready callbacks until none is left; returns whether work is left (the budget ran out).

        Raises the fatal error recorded meanwhile, if any, so that the component traps.
        """
        budget = MAX_CALLBACKS_PER_RUN
        while self._ready and budget > 0:
            handle = self._ready.popleft()
            if handle._cancelled:
                continue
            budget -= 1
            handle._run()
            if self.fatal is not None:
                fatal, self.fatal = self.fatal, None
                raise fatal
        return bool(self._ready)


#: The component's one loop, installed as the running loop when this module is imported (at
#: build time, so the snapshot componentize-py takes already has it).
LOOP = ComponentLoop()
asyncio.set_event_loop(LOOP)
asyncio.events._set_running_loop(LOOP)
