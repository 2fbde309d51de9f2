"""The guest half of the isyswasfa task protocol (``isyswasfa:isyswasfa/isyswasfa``), for asyncio.

Three tables, keyed by ``u32`` tokens this component picks and the host echoes back:

- *listeners*: host tasks this component waits for (imported calls, timers, pollables, pipe
  waits). ``poller.listen`` registers one; a ``ready`` event completes it.
- *exports*: calls of exported ``async def`` functions that did not finish in their start half.
  Each runs as an asyncio task; ``poller.start-task`` announces it, ``poller.task-ready`` reports
  its end, the caller collects the value through the function's result half.
- the *poller*: this component's identity, handed over in the first event.

Cancellation: a ``cancel`` event for an export cancels its asyncio task (``CancelledError`` is
raised inside the coroutine at its current ``await``); once the task has ended the host hears
``task-cancelled``. Cancelling an asyncio task that awaits an import cancels the import's host
task in turn (``poller.cancel``).
"""

import asyncio

from componentize_py_types import Err

from .loop import LOOP

_bindings = None
_poller = None
_next_state = 0
#: state → callback taking the `ready` handle.
_listeners = {}
#: state → _Export.
_exports = {}


class _Export:
    __slots__ = ("task", "function", "announced", "cancelling")

    def __init__(self, task, function):
        self.task = task
        self.function = function
        self.announced = False
        self.cancelling = False


class _Bindings:
    def __init__(self, protocol, clock, pollables):
        self.protocol = protocol
        self.clock = clock
        self.pollables = pollables


def bind(protocol, clock=None, pollables=None):
    """Connects the runtime to the component's generated bindings (called by the glue).

    ``protocol`` is the bindings module of ``isyswasfa:isyswasfa/isyswasfa``; ``clock`` the pair
    (start, result) of the lowered ``wasi:clocks/monotonic-clock@0.3.0#wait-for``; ``pollables``
    the module of ``isyswasfa:isyswasfa/pollables``.
    """
    global _bindings
    _bindings = _Bindings(protocol, clock, pollables)
    if clock is not None:
        LOOP.timer_start = _start_timer


def _new_state():
    global _next_state
    state = _next_state
    _next_state = (_next_state + 1) & 0xFFFFFFFF
    return state


def poller():
    """This component's poller; the host hands it over before it calls anything else."""
    if _poller is None:
        raise RuntimeError(
            "isyswasfa: no poller yet; this component must be run by an isyswasfa host, which "
            "calls its poll export before anything else"
        )
    return _poller


def _drop(resource):
    """Drops a resource handle now rather than when the garbage collector gets to it."""
    resource.__exit__(None, None, None)


def listen(pending, on_ready):
    """Waits for the host task ``pending``; calls ``on_ready(ready)`` from the poll export when it
    has finished. Returns a function that stops waiting (and cancels the host task)."""
    state = _new_state()
    _listeners[state] = on_ready
    poller().listen(pending, state)

    def stop():
        if _listeners.pop(state, None) is not None:
            poller().cancel(state)

    return stop


def await_ready(pending):
    """An asyncio future of the ``ready`` handle of host task ``pending``; cancelling it cancels
    the host task."""
    future = LOOP.create_future()

    def on_ready(ready):
        if future.cancelled():
            _drop(ready)
        else:
            future.set_result(ready)

    stop = listen(pending, on_ready)

    def on_done(done):
        if done.cancelled():
            stop()

    future.add_done_callback(on_done)
    return future


async def call_import(start, result, args):
    """Calls an imported async function through its lowered halves; returns the start half's
    value (``Ok`` path) or the result half's."""
    try:
        return start(*args)
    except Err as error:
        pending = error.value
        if not _is_pending(pending):
            raise
    ready = await await_ready(pending)
    return result(ready)


def _is_pending(value):
    return _bindings is not None and isinstance(value, _bindings.protocol.Pending)


def _start_timer(delay_ns, fire):
    start, result = _bindings.clock
    try:
        start(delay_ns)
    except Err as error:
        pending = error.value

        def on_ready(ready):
            result(ready)
            fire()

        return listen(pending, on_ready)
    fire()
    return None


async def wait_pollable(pollable):
    """Waits until the WASI 0.2 ``pollable`` is ready, letting every other task of every
    component run meanwhile (the host waits for it, with everything else, in one wait). The
    pollable is consumed."""
    if _bindings is None or _bindings.pollables is None:
        raise RuntimeError("isyswasfa: this component does not import isyswasfa:isyswasfa/pollables")
    pending = _bindings.pollables.wait(pollable)
    if pending is None:
        return
    _drop(await await_ready(pending))


def start_export(function, coroutine):
    """Runs an exported ``async def`` call up to its first wait (the start half).

    Returns the finished asyncio task when it ended at once; otherwise raises ``Err(pending)``,
    which the start half returns to its caller, and the task runs on.
    """
    state = _new_state()
    task = LOOP.create_task(coroutine)
    export = _Export(task, function)
    _exports[state] = export
    task.add_done_callback(lambda done: _export_done(state))
    run()
    if task.done() and not export.announced:
        _exports.pop(state, None)
        return task
    pending = poller().start_task(state)
    export.announced = True
    raise Err(pending)


def _export_done(state):
    export = _exports.get(state)
    if export is None:
        return
    if export.cancelling:
        _exports.pop(state, None)
        poller().task_cancelled(state)
        return
    error = None if export.task.cancelled() else export.task.exception()
    if error is not None and not isinstance(error, Err):
        # An uncaught exception ends the component, as a panic does in Rust: the host then
        # answers this call (and only the calls of this instance) with an error.
        LOOP.fatal = error
    if export.announced:
        poller().task_ready(state)


def take_export_result(function, ready):
    """The finished task of the export call whose ``ready`` the result half received."""
    state = poller().take_result(ready)
    export = _exports.pop(state, None)
    if export is None:
        raise RuntimeError(f"isyswasfa: `poller.take-result`: this component has no task {state}")
    if export.function != function:
        raise RuntimeError(
            f"isyswasfa: a `ready` of `{export.function}` was passed to the result half of "
            f"`{function}`"
        )
    if not export.task.done():
        raise RuntimeError(f"isyswasfa: the result of task {state} was collected before it finished")
    return export.task


def task_value(task):
    """The value of a finished export task: returns it, or raises what the coroutine raised
    (``Err(e)`` for a WIT error; a cancelled task raises ``CancelledError``)."""
    return task.result()


def spawn(coroutine):
    """Runs ``coroutine`` as a task of this component that outlives the call that spawned it
    (for example to write a response body after ``handle`` has returned). An exception it does
    not catch ends the component."""
    task = LOOP.create_task(coroutine)
    task.add_done_callback(_spawned_done)
    return task


def _spawned_done(task):
    if not task.cancelled() and task.exception() is not None:
        LOOP.fatal = task.exception()


def run():
    """Runs the component's ready callbacks; asks the host to come back if work is left."""
    if LOOP.run_until_stalled():
        poller().run_again()


def poll(inputs):
    """The poll export: delivers the host's events, then runs what they woke."""
    global _poller
    protocol = _bindings.protocol
    cancels = []
    for event in inputs:
        if isinstance(event, protocol.PollInput_Init):
            _poller = event.value
        elif isinstance(event, protocol.PollInput_Ready):
            on_ready = _listeners.pop(event.value.state, None)
            if on_ready is None:
                # Nobody waits for it any more: dropping it discards the value in the host.
                _drop(event.value.ready)
            else:
                on_ready(event.value.ready)
        elif isinstance(event, protocol.PollInput_Cancel):
            # After the `ready` events: a cancelled task may drop a wait whose `ready` is in
            # this very batch, which must find it delivered.
            cancels.append(event.value)
    for state in cancels:
        _cancel_export(state)
    run()


def _cancel_export(state):
    export = _exports.get(state)
    if export is None:
        poller().task_cancelled(state)
        return
    if export.task.done():
        _exports.pop(state, None)
        poller().task_cancelled(state)
        return
    export.cancelling = True
    export.task.cancel()


def table_sizes():
    """(listeners, exports): how many tokens this component's tables hold (for tests)."""
    return len(_listeners), len(_exports)
