"""Two instances' listeners racing for one chat command, made deterministic (tests/matrix and
tests/nextcloud): the elected one is held inside its handler while the other, whose lease moved on,
reads the same command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from brug.app.conversation import Incoming, Reply


class HeldHandlers:
    """Handlers that record who handled what; the `holder`'s waits inside until `release()`."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self.handled: list[tuple[str, str]] = []  # (instance, event id)
        self.inside, self.gate = asyncio.Event(), asyncio.Event()

    def of(self, name: str) -> Callable[[Incoming], Awaitable[list[Reply]]]:
        async def handle(message: Incoming) -> list[Reply]:
            self.handled.append((name, message.event_id))
            if name == self.holder:
                self.inside.set()
                await self.gate.wait()  # answering the command when the other one wakes
            return [Reply(f"gezien door {name}", message.event_id)]

        return handle

    async def holder_inside(self, timeout: float = 60) -> None:
        await asyncio.wait_for(self.inside.wait(), timeout)

    def release(self) -> None:
        self.gate.set()
