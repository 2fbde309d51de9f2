"""The Python twin of test-cases/round-trip: `foo` waits 100 ms and calls the imported `foo` at
the same time (`asyncio.gather`), then says so in its answer. A call its caller drops sees
`CancelledError`, which `cancelled` counts. `pollables` awaits WASI 0.2 pollables from tasks
made with `asyncio.create_task`, and times one out with `asyncio.wait_for`."""

import asyncio

import wit_world
from wit_world import exports
from wit_world.imports import baz
from wit_world.imports import wasi_clocks_monotonic_clock_0_2_0 as clock_0_2

cancelled_calls = 0


class Baz(exports.Baz):
    async def foo(self, s: str) -> str:
        global cancelled_calls
        try:
            _, inner = await asyncio.gather(
                asyncio.sleep(0.1), baz.foo(f"{s} - entered guest")
            )
        except asyncio.CancelledError:
            cancelled_calls += 1
            raise
        return f"{inner} - exited guest"


async def wait_ms(ms: int) -> None:
    """Awaits a WASI 0.2 pollable that is ready after `ms` ms."""
    await clock_0_2.subscribe_duration(ms * 1_000_000)


class WitWorld(wit_world.WitWorld):
    def cancelled(self) -> int:
        return cancelled_calls

    async def pollables(self, ms: int) -> str:
        first = asyncio.create_task(wait_ms(ms))
        second = asyncio.create_task(wait_ms(ms))
        await first
        await second
        try:
            await asyncio.wait_for(wait_ms(10 * ms), timeout=ms / 1000)
        except TimeoutError:
            return "timed out"
        return "not timed out"
