"""The Python twin of test-cases/round-trip: `foo` waits 100 ms and calls the imported `foo` at
the same time (`asyncio.gather`), then says so in its answer. A call its caller drops sees
`CancelledError`, which `cancelled` counts."""

import asyncio

import wit_world
from wit_world import exports
from wit_world.imports import baz

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


class WitWorld(wit_world.WitWorld):
    def cancelled(self) -> int:
        return cancelled_calls
