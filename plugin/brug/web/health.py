"""`/healthz`, `/readyz` and `/metrics`: what a supervisor, a load balancer and Prometheus ask.

- `/healthz` (liveness): the process answers, so its event loop turns. No I/O: a database or a
  homeserver that is down must not get brug restarted, it only makes it not ready.
- `/readyz` (readiness): the store answers a real query (within 5 s) and no platform brug works
  with is known to be unreachable (what each adapter's `Reachability` saw on its last request).
  503 with the reasons otherwise, as JSON: `{"status": "not ready", "reasons": ["store: …"]}`.
- `/metrics`: Prometheus' text format (see brug.metrics), with the outbox's depth read from the store.

They are served on the web page's port (`brug web`, `brug run` with [web]) and, without [web], by
`brug run` on [metrics]'s port or `--port`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brug import metrics
from brug.app.service import Runtime

log = logging.getLogger(__name__)

STORE_TIMEOUT = 5.0
NO_STORE = {"Cache-Control": "no-store"}


def _adapters(rt: Runtime) -> Iterator[tuple[str, Any]]:
    """Each platform adapter once, with its platform's name."""
    seen: set[int] = set()
    groups: list[dict[str, Any]] = [rt.chats, rt.provisioners, rt.file_spaces, rt.surroundings]
    for group in groups:
        for name, adapter in group.items():
            if id(adapter) not in seen:
                seen.add(id(adapter))
                yield name, adapter


def unreachable_platforms(rt: Runtime) -> list[str]:
    """'<platform>: <cause>' for every platform whose last request got no answer."""
    found: dict[int, str] = {}  # by Reachability: Nextcloud's adapters share one client
    for name, adapter in _adapters(rt):
        reach = getattr(adapter, "reachability", None) or getattr(getattr(adapter, "client", None), "reachability", None)
        if reach is not None and reach.down:
            found.setdefault(id(reach), f"{name}: unreachable ({reach.last_cause})")
    return list(found.values())


class StoreProbe:
    """Asks the store a real query, one probe at a time on a thread of its own: a database that hangs
    (a dead host: the connection attempt may wait long) ties up one thread, not the pool the web page
    uses, and probes asked meanwhile wait for the one in flight instead of piling up."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brug-readyz")
        self.in_flight: asyncio.Future[int] | None = None

    async def problem(self) -> str | None:
        """Why the store does not answer a query, or None when it does."""
        if self.in_flight is None or self.in_flight.done():
            loop = asyncio.get_running_loop()
            self.in_flight = loop.run_in_executor(self.thread, lambda: self.rt.store.version)
        try:
            await asyncio.wait_for(asyncio.shield(self.in_flight), STORE_TIMEOUT)
        except TimeoutError:
            return f"store: no answer within {STORE_TIMEOUT:.0f} s"
        except Exception as err:  # noqa: BLE001 - any failure of the database means: not ready
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return f"store: {type(err).__name__}: {first[:200]}"
        return None


def health_routes(rt: Runtime) -> list[Route]:
    def platforms() -> list[str]:
        return sorted(set(rt.chats) | ({"email"} if rt.mailer is not None else set()))

    registry = metrics.registry(rt.store.outbox_depth, platforms)  # pending and parked posts, per platform
    probe = StoreProbe(rt)
    scrape = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brug-metrics")  # off the web page's pool

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def readyz(request: Request) -> Response:
        reasons = [r for r in [await probe.problem(), *unreachable_platforms(rt)] if r]
        if reasons:
            log.debug("not ready: %s", "; ".join(reasons))
            return JSONResponse({"status": "not ready", "reasons": reasons}, status_code=503, headers=NO_STORE)
        return JSONResponse({"status": "ready"}, headers=NO_STORE)

    async def metrics_page(request: Request) -> Response:
        body = await asyncio.get_running_loop().run_in_executor(scrape, metrics.exposition, registry)
        return Response(body, media_type=metrics.CONTENT_TYPE, headers=NO_STORE)

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]


def health_app(rt: Runtime) -> Starlette:
    """Only the three, for `brug run` without the web page."""
    return Starlette(routes=health_routes(rt))
