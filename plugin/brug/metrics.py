"""What an operator watches: Prometheus metrics, counted where things happen.

The counters live in prometheus_client's default registry (with the process's own figures: memory,
CPU, open files) and are moved by the code that does the work: the outbox (`jobs.deliver`, the
planner's posts, the mails), the scheduler (late, skipped and paused slots), the adapters (every
HTTP answer that is an error, and every request that got none), the pacer (waits for a rate limit)
and the reconcile loop. Gauges that describe the store (outbox depth) are read from it when
`/metrics` is asked for, so they are never stale.

Labels are bounded and carry no partner data: a kind of post (agenda, reflection, pulse, …), a
platform name, an HTTP status or `unreachable`, an outcome. Never a partnership, a person or text.

`LEASES` is the number of partnerships (or the single-instance lock) this process holds. While one
brug works with a store it is 1; the multi-instance leases set it with `LEASES.set(n)`, or hand a
function to `count_leases_with` that counts the rows they hold at scrape time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

disable_created_metrics()  # no `_created` series beside every counter: nobody reads them
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

POSTS = Counter(
    "brug_posts",
    "Posts through the outbox, by kind and outcome: sent, failed (tried again later), parked (failed too often)",
    ["kind", "outcome"],
)
SLOTS = Counter(
    "brug_slots",
    "Scheduled slots (agenda, reflection, barometer) by outcome: on_time, late (posted after its moment), "
    "skipped (missed by more than the grace period), paused",
    ["kind", "outcome"],
)
PLATFORM_ERRORS = Counter(
    "brug_platform_errors",
    "Requests to a platform that failed, by platform and HTTP status (`unreachable`: no answer at all)",
    ["platform", "status"],
)
RATE_LIMIT_WAITS = Counter(
    "brug_rate_limit_waits", "Times brug waited because a platform rate-limits it", ["platform"]
)
RATE_LIMIT_SECONDS = Counter(
    "brug_rate_limit_wait_seconds", "Seconds brug spent waiting for a platform's rate limit", ["platform"]
)
RECONCILE_SECONDS = Histogram(
    "brug_reconcile_duration_seconds",
    "How long one reconcile of every partnership took (start-up and periodic)",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
LEASES = Gauge("brug_leases", "Partnerships (or the single-instance lock) this process holds")

_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_lease_counter: Callable[[], int] | None = None


def label(value: str) -> str:
    """A label value that cannot carry free text: a short lower-case word, else `other`."""
    return value if _KIND.match(value) else "other"


def post(kind: str, outcome: str) -> None:
    POSTS.labels(label(kind), outcome).inc()


def slot(kind: str, outcome: str) -> None:
    SLOTS.labels(label(kind), outcome).inc()


def platform_error(platform: str, status: int | str) -> None:
    """A request that failed: `status` is the HTTP status, or 0 / 'unreachable' when nothing answered."""
    shown = "unreachable" if status in (0, "unreachable") else str(status)
    PLATFORM_ERRORS.labels(label(platform), shown if shown.isdigit() or shown == "unreachable" else "other").inc()


def rate_limit_wait(platform: str, seconds: float) -> None:
    RATE_LIMIT_WAITS.labels(label(platform)).inc()
    RATE_LIMIT_SECONDS.labels(label(platform)).inc(max(0.0, seconds))


def count_leases_with(counter: Callable[[], int] | None) -> None:
    """Let `/metrics` ask `counter` for the lease count (e.g. a query on the leases table)."""
    global _lease_counter
    _lease_counter = counter


class StoreCollector:
    """The outbox's depth (pending and parked posts per platform), read from the store at scrape time;
    a platform brug posts to shows 0 rather than nothing."""

    def __init__(self, depth: Callable[[], dict[tuple[str, str], int]], platforms: Callable[[], list[str]]) -> None:
        self.depth = depth
        self.platforms = platforms

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "brug_outbox_posts", "Posts in the outbox by platform and status (pending, parked)", labels=["platform", "status"]
        )
        try:
            counts = dict(self.depth())
        except Exception as err:  # noqa: BLE001 - a scrape must not fail because the store is down
            log.debug("outbox depth unavailable: %s", err)
            yield family
            return
        for platform in self.platforms():
            for status in ("pending", "parked"):
                counts.setdefault((platform, status), 0)
        for (platform, status), n in sorted(counts.items()):
            family.add_metric([label(platform), status], n)
        yield family


class _Default:
    """Everything in prometheus_client's default registry, and the lease count when someone counts it."""

    def collect(self) -> Iterator[Metric]:
        if _lease_counter is not None:
            try:
                LEASES.set(_lease_counter())
            except Exception as err:  # noqa: BLE001
                log.debug("lease count unavailable: %s", err)
        yield from REGISTRY.collect()


def registry(
    depth: Callable[[], dict[tuple[str, str], int]] | None = None, platforms: Callable[[], list[str]] = list
) -> CollectorRegistry:
    """A registry for one `/metrics` endpoint: the process-wide metrics plus this store's outbox."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Default())  # type: ignore[arg-type]
    if depth is not None:
        reg.register(StoreCollector(depth, platforms))  # type: ignore[arg-type]
    return reg


def exposition(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)

