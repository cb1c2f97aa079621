"""Pacing that learns a homeserver's rate limits from its 429 answers, and recovers from them.

A homeserver keeps separate buckets, and one refusal says nothing about the others. Synapse, for
instance, refuses with the same `M_LIMIT_EXCEEDED` for:
- the bot's own event rate (every message, state event, invite and room creation; default 0.2/s
  after a burst of 10),
- room creation (0.016/s after 10),
- invites to one person, from anyone (0.003/s after 5: one more every ~333 s),
- invites per room and per inviter (0.3/s after 10).
Only the wait it asks for (`retry_after_ms`) and the request tell them apart. So the adapter names
the *gate* a refusal was about ("event", "create", "invitee:@x:y"), and the pacer keeps one model per
gate: a token bucket with the refill interval and burst learned from the answers. Before any 429 a
gate does not slow anything down; after one, requests through that gate wait for a token, and the
bucket fills up again while brug is quiet, so the pace relaxes by itself. A gate about one person
holds back only that person's invites.

The state is kept in wall-clock time, so it can be saved and taken up again after a restart: the
first request after it waits for the token the homeserver has not given back yet, instead of being
refused (a refused invite still spends one of the invitee's few invite tokens on Synapse).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass

from brug import metrics

MARGIN = 1.1  # wait a little longer than asked: clocks and rounding differ
# Synapse's defaults: what a gate is assumed to allow at once once it has refused something
DEFAULT_BURST = {"event": 10.0, "create": 10.0, "invitee": 5.0}
# Never assume a faster event rate than Synapse's default (0.2/s) once limited: the first 429s can
# ask for a short wait (the bucket was nearly refilled) and would teach a too-short interval, and on
# Synapse an invite refused for the event rate has already spent one of the invitee's invite tokens.
FLOOR = {"event": 5.0}
LONGEST = 3600.0  # a wait the homeserver asks for that is longer than this is taken as this
PROBE_AFTER = 30  # requests through a gate without a refusal before brug tries it a little faster
RELAXED = 0.05  # a gate whose interval relaxed below this is forgotten (no limit any more)


def kind_of(gate: str) -> str:
    return gate.split(":", 1)[0]


@dataclass
class Bucket:
    """What brug knows of one of the homeserver's buckets: Synapse's own model, seen from outside."""

    interval: float  # seconds for one token to come back
    burst: float  # how many requests it takes at once when full
    level: float  # requests it still counts, at wall-clock moment `at`; drains one per `interval`
    at: float
    successes: int = 0  # requests that went through since the last refusal

    def level_at(self, now: float) -> float:
        return max(0.0, self.level - max(0.0, now - self.at) / self.interval)

    def wait(self, now: float) -> float:
        """Seconds until one more request fits."""
        return max(0.0, (self.level_at(now) + 1 - self.burst) * self.interval)

    def spend(self, now: float) -> None:
        self.level, self.at = self.level_at(now) + 1, now

    def refused(self, now: float, retry_after: float, *, learn_burst: bool = True) -> None:
        """The homeserver refused and asked for `retry_after` seconds: the bucket is full."""
        counted = self.level_at(now) - 1  # the refused request was not counted by the server
        if learn_burst:  # full at `counted` already: it holds fewer than believed
            self.burst = max(1.0, min(self.burst, float(math.ceil(counted))))
        self.interval = max(self.interval, retry_after * MARGIN)
        self.level = self.burst - 1 + retry_after * MARGIN / self.interval
        self.at = now
        self.successes = 0


class Pacer:
    """Token buckets per gate, learned from 429 answers; optionally saved after every change."""

    def __init__(
        self,
        saved: str | None = None,
        save: Callable[[str], None] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        platform: str = "matrix",
    ) -> None:
        self.platform = platform  # for the rate-limit metrics
        self.clock = clock
        self.sleep = sleep
        self._save = save
        self.buckets: dict[str, Bucket] = {}
        self.limited_count = 0
        self.waited = 0.0  # seconds spent waiting for tokens, in total
        self.on_wait: Callable[[str, float], None] = lambda gate, seconds: None
        if saved:
            try:
                self.buckets = {gate: Bucket(**fields) for gate, fields in json.loads(saved).items()}
            except (ValueError, TypeError):  # an unreadable state only costs one refusal to relearn
                self.buckets = {}

    def wait_for(self, gates: Iterable[str]) -> float:
        """Seconds until a request through all these gates fits (0 when it fits now)."""
        now = self.clock()
        return max((self.buckets[g].wait(now) for g in gates if g in self.buckets), default=0.0)

    async def before(self, gates: tuple[str, ...], *, probe: bool = False) -> float:
        """Wait until the request fits through every gate, then count it; returns the seconds waited.
        A `probe` (see `probe_due`) does not wait."""
        waited = 0.0
        while not probe and (wait := self.wait_for(gates)) > 0:
            gate = max((g for g in gates if g in self.buckets), key=lambda g: self.buckets[g].wait(self.clock()))
            self.on_wait(gate, wait)
            metrics.rate_limit_wait(self.platform, wait)
            await self.sleep(wait)
            waited += wait
        self.waited += waited
        now = self.clock()
        paced = [self.buckets[g] for g in gates if g in self.buckets]
        for bucket in paced:
            bucket.spend(now)
        if paced:
            self.save()
        return waited

    def probe_due(self, gates: tuple[str, ...]) -> bool:
        """Whether to try a request through these gates without waiting: each let PROBE_AFTER
        requests through since its last refusal. When the probe goes through too, the pace relaxes
        (`succeeded`), so brug speeds up again when the limit was lifted (an administrator's override)
        or was stricter only for a while. Only for requests whose refusal costs nothing but a retry."""
        paced = [self.buckets[g] for g in gates if g in self.buckets]
        return bool(paced) and all(b.successes >= PROBE_AFTER for b in paced) and self.wait_for(gates) > 0

    def succeeded(self, gates: tuple[str, ...], *, probe: bool = False) -> None:
        """The request went through: count it; a probe that went through relaxes its gates."""
        for gate in [g for g in gates if g in self.buckets]:
            bucket = self.buckets[gate]
            bucket.successes += 1
            if probe:
                bucket.interval /= 2
                bucket.successes = 0
                if bucket.interval < RELAXED:  # as good as no limit: forget it
                    del self.buckets[gate]
        if probe:
            self.save()

    def limited(self, gate: str, retry_after: float) -> None:
        """The homeserver refused a request through `gate` and asked to wait `retry_after` seconds."""
        self.limited_count += 1
        now = self.clock()
        retry_after = min(max(retry_after, 0.0), LONGEST)
        kind = kind_of(gate)
        bucket = self.buckets.get(gate)
        known = bucket is not None
        if bucket is None:
            burst = DEFAULT_BURST.get(kind, 1.0)
            bucket = self.buckets[gate] = Bucket(max(FLOOR.get(kind, 0.0), 0.001), burst, burst, now)
        bucket.refused(now, retry_after, learn_burst=known)
        self.save()

    def save(self) -> None:
        """Keep the state (without buckets about one person that are full again: they relaxed)."""
        now = self.clock()
        for gate in [g for g, b in self.buckets.items() if kind_of(g) == "invitee" and b.level_at(now) == 0]:
            del self.buckets[gate]
        if self._save is not None:
            self._save(json.dumps({gate: asdict(b) for gate, b in self.buckets.items()}))

    def interval(self, gate: str) -> float:
        """The learned seconds between two requests through `gate` (0 when it never refused)."""
        bucket = self.buckets.get(gate)
        return bucket.interval if bucket else 0.0
