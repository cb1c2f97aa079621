"""Several `brug run` processes on one PostgreSQL share the partnerships through leases.

Every instance registers itself in `instances` (id, host, pid, started, heartbeat). Each partnership,
and each chat listener (`listener:matrix`, `listener:talk`), is a row in `leases` with an owner and an
expiry. A `Coordinator` ticks every `renew` seconds, in one transaction:

- it renews its heartbeat and the leases it holds (expiry = database time + `ttl`);
- it counts the live instances (a heartbeat younger than `ttl`) and claims free or expired
  partnerships up to its fair share, ceil(partnerships / live instances), with
  `SELECT … FOR UPDATE SKIP LOCKED`, so two instances never wait for, nor take, the same row;
- it hands back what it holds beyond its share, so a new instance gets work at once (claims and hand-backs
  go in `spread` order, a hash of the name: each share is a sample across all partnerships, so what
  falls due at one moment is split evenly);
- it claims a free or expired listener lease: one elected instance listens per platform.

A killed instance stops renewing; its leases expire after `ttl` and the others take them over at
their next tick (within ttl + renew seconds; 40 s by default). Times are the database's, so clocks of
different hosts never disagree, and brug's own (test) clock plays no part.

The lease is also checked where it matters most: the outbox claims a post only inside a transaction
that sees the partnership's lease held by this instance for at least `margin` more seconds (see
`Coordinator.guard`), so an instance that lost a lease posts nothing for it any more. A post that was
claimed before (by a killed instance, or a failed attempt) and not marked sent is looked up on the
platform by its key before it is sent again (the adapters do that).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, TextClause, bindparam, text

log = logging.getLogger(__name__)

LISTENER = "listener:"  # prefix of the listeners' lease names
PLATFORM_LISTENERS = {"matrix": "matrix", "nextcloud": "talk"}  # chat platform -> its listener's name
HELD = text(
    "SELECT 1 FROM leases WHERE name = :lease_name AND owner = :lease_owner "
    "AND expires_at > now() + make_interval(secs => :lease_margin) FOR SHARE"
)
DEFAULT_TTL = 30.0
DEFAULT_RENEW = 10.0


def spread(name: str) -> str:
    """The order in which leases are claimed and handed back: by a hash of the name (PostgreSQL's md5), so an
    instance's share is a sample across all partnerships, not a range of names. Whatever subset comes due
    at once (prompts at the same hour, ids given out in sequence) is then split evenly between instances."""
    return hashlib.md5(name.encode()).hexdigest()


class LeaseLost(RuntimeError):
    """This instance does not hold the partnership's lease (any more): its work is left to the holder."""

    def __init__(self, partnership: str) -> None:
        super().__init__(f"{partnership}: the lease is not held by this instance")
        self.partnership = partnership


def listener_name(platform: str) -> str:
    """The lease name of a chat platform's listener: `listener:matrix`, `listener:talk`."""
    return LISTENER + PLATFORM_LISTENERS.get(platform, platform)


@dataclass
class TickResult:
    """What one tick changed: partnerships gained (with whom they came from) and lost, listeners."""

    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    listeners_gained: list[str] = field(default_factory=list)
    listeners_lost: list[str] = field(default_factory=list)
    wanted: list[str] = field(default_factory=list)  # partnerships another instance asked to be applied
    live: int = 1
    share: int = 0


@dataclass(frozen=True)
class InstanceRow:
    id: str
    host: str
    pid: int
    started: datetime
    heartbeat_age: float  # seconds since the last heartbeat (database time)
    partnerships: list[str]
    listeners: list[str]


class Coordinator:
    """One instance's leases on a PostgreSQL store (the engine of `brug.store.Store`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = DEFAULT_TTL,
        renew: float = DEFAULT_RENEW,
        instance_id: str | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        if not 0 < renew < ttl:
            raise ValueError("renew must be shorter than the lease's ttl")
        self.engine = engine
        self.ttl = ttl
        self.renew = renew
        self.margin = min(renew, ttl / 3)  # a post is claimed only with this much lease left
        self.id = instance_id or uuid.uuid4().hex[:12]
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.held: set[str] = set()  # partnership ids
        self.listeners: set[str] = set()  # listener lease names
        self._valid_until = 0.0  # monotonic: after this, nothing held counts (the database was not reached)
        self._known: frozenset[str] = frozenset()  # lease rows known to exist

    # --- what this instance may do -------------------------------------------------------------------------

    def holds(self, name: str) -> bool:
        """Whether this instance holds a partnership's lease (or a listener's), as of its last tick."""
        if time.monotonic() >= self._valid_until:
            return False
        return name in self.held or name in self.listeners

    def guard(self, conn: Connection, partnership: str) -> None:
        """Inside the outbox's transaction: raise LeaseLost unless the lease is held for `margin` more seconds.

        FOR SHARE keeps a taker's `FOR UPDATE SKIP LOCKED` away from the row until the claim is committed.
        """
        if conn.execute(*self.held_query(partnership)).first() is None:
            raise LeaseLost(partnership)

    def guard_listener(self, conn: Connection, platform: str) -> None:
        """Inside a listener's transaction (claiming a chat event, storing its sync token): raise LeaseLost
        unless this instance holds the platform's listener lease for `margin` more seconds."""
        self.guard(conn, listener_name(platform))

    def drop(self, name: str) -> None:
        """Forget a listener lease the database says is gone, before the next tick says so."""
        self.listeners = self.listeners - {name}

    def held_query(self, partnership: str) -> tuple[TextClause, dict[str, object]]:
        """The query behind `guard`: a row while this instance holds the lease for `margin` more seconds, locked
        FOR SHARE. The outbox puts it in front of its INSERT (a claim in one statement, see `Outbox.enqueue`)."""
        return HELD, {"lease_name": partnership, "lease_owner": self.id, "lease_margin": self.margin}

    # --- the tick --------------------------------------------------------------------------------------------

    def register(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO instances (id, host, pid, started, heartbeat) VALUES (:id, :host, :pid, now(), now()) "
                    "ON CONFLICT (id) DO UPDATE SET heartbeat = now()"
                ),
                {"id": self.id, "host": self.host[:200], "pid": self.pid},
            )
        log.info("instance %s (%s, process %d) joined; leases last %.0f s", self.id, self.host, self.pid, self.ttl)

    def tick(self, partnerships: Sequence[str], listeners: Sequence[str] = ()) -> TickResult:
        """Renew, count, claim up to the fair share, hand back the excess, elect listeners. One transaction."""
        started = time.monotonic()
        result = TickResult()
        names = sorted(set(partnerships))
        with self.engine.begin() as conn:
            self._heartbeat(conn)
            self._ensure_rows(conn, [*names, *listeners])
            renewed = conn.execute(
                text(
                    "WITH mine AS "
                    "(SELECT name, wanted FROM leases WHERE owner = :me AND expires_at > now() FOR UPDATE) "
                    "UPDATE leases SET expires_at = now() + make_interval(secs => :ttl), wanted = NULL FROM mine "
                    "WHERE leases.name = mine.name RETURNING leases.name, mine.wanted"
                ),
                {"ttl": self.ttl, "me": self.id},
            ).all()
            mine = {r.name for r in renewed}
            result.wanted = sorted(r.name for r in renewed if r.wanted is not None and not r.name.startswith(LISTENER))
            wanted_names = set(names)
            held = {n for n in mine if not n.startswith(LISTENER) and n in wanted_names}
            result.live = int(
                conn.execute(
                    text("SELECT count(*) FROM instances WHERE heartbeat > now() - make_interval(secs => :ttl)"),
                    {"ttl": self.ttl},
                ).scalar_one()
            )
            result.live = max(result.live, 1)
            result.share = math.ceil(len(names) / result.live) if names else 0
            if len(held) < result.share:
                got = self._claim(conn, names, result.share - len(held))
                held |= set(got)
                result.gained = sorted(got)
            elif len(held) > result.share:
                extra = sorted(sorted(held, key=spread)[result.share :])
                conn.execute(
                    text(
                        "UPDATE leases SET owner = NULL, expires_at = NULL WHERE owner = :me AND name IN :names"
                    ).bindparams(bindparam("names", expanding=True)),
                    {"me": self.id, "names": extra},
                )
                held -= set(extra)
                result.released = extra
            listening = {n for n in mine if n.startswith(LISTENER)}
            for name in listeners:
                if name not in listening and self._claim(conn, [name], 1):
                    listening.add(name)
                    result.listeners_gained.append(name)
            conn.execute(
                text("DELETE FROM instances WHERE heartbeat < now() - make_interval(secs => :old)"),
                {"old": max(self.ttl * 20, 600.0)},
            )
        result.lost = sorted(self.held - held - set(result.released))
        result.listeners_lost = sorted(self.listeners - listening)
        self.held, self.listeners = held, listening
        self._valid_until = started + self.ttl - self.margin
        self._report(result)
        return result

    def _heartbeat(self, conn: Connection) -> None:
        updated = conn.execute(text("UPDATE instances SET heartbeat = now() WHERE id = :id"), {"id": self.id})
        if updated.rowcount == 0:  # tidied away as dead (a long stall): join again
            conn.execute(
                text(
                    "INSERT INTO instances (id, host, pid, started, heartbeat) VALUES (:id, :host, :pid, now(), now())"
                ),
                {"id": self.id, "host": self.host[:200], "pid": self.pid},
            )

    def _ensure_rows(self, conn: Connection, names: Iterable[str]) -> None:
        wanted = frozenset(names)
        new = sorted(wanted - self._known)
        if new:
            conn.execute(
                text("INSERT INTO leases (name) SELECT unnest(CAST(:names AS text[])) ON CONFLICT (name) DO NOTHING"),
                {"names": new},
            )
        self._known = self._known | wanted

    def _claim(self, conn: Connection, names: Sequence[str], count: int) -> list[str]:
        """Take up to `count` of these leases that are free or expired; log whose they were."""
        if count <= 0 or not names:
            return []
        rows = conn.execute(
            text(
                "SELECT name, owner, extract(epoch FROM now() - expires_at) AS expired FROM leases "
                "WHERE name = ANY(CAST(:names AS text[])) "
                "AND (owner IS NULL OR expires_at IS NULL OR expires_at <= now()) "
                "ORDER BY md5(name), name LIMIT :count FOR UPDATE SKIP LOCKED"  # in `spread` order
            ),
            {"names": list(names), "count": count},
        ).all()
        if not rows:
            return []
        got = [r.name for r in rows]
        conn.execute(
            text(
                "UPDATE leases SET owner = :me, expires_at = now() + make_interval(secs => :ttl), since = now(), "
                "wanted = NULL WHERE name = ANY(CAST(:names AS text[]))"
            ),
            {"me": self.id, "ttl": self.ttl, "names": got},
        )
        by_owner: dict[str, list[float]] = {}
        for r in rows:
            if r.owner and r.owner != self.id:
                by_owner.setdefault(r.owner, []).append(float(r.expired or 0))
        for owner, ages in by_owner.items():
            partnerships = [
                n for n, r in zip(got, rows, strict=True) if r.owner == owner and not n.startswith(LISTENER)
            ]
            if partnerships:
                log.warning(
                    "took over %d partnership(s) from instance %s (expired %.0f s ago)",
                    len(partnerships),
                    owner,
                    max(ages),
                )
        return got

    def _report(self, result: TickResult) -> None:
        if result.gained:
            log.info(
                "now holds %d partnership(s) (+%d; fair share %d of %d instance(s))",
                len(self.held),
                len(result.gained),
                result.share,
                result.live,
            )
        if result.released:
            log.info(
                "handed back %d partnership(s) for another instance (fair share %d of %d instances)",
                len(result.released),
                result.share,
                result.live,
            )
        if result.lost:
            log.warning("lost %d partnership(s) to another instance: %s", len(result.lost), ", ".join(result.lost[:10]))
        for name in result.listeners_gained:
            log.info("elected to run the %s listener", name.removeprefix(LISTENER).capitalize())
        for name in result.listeners_lost:
            log.warning("no longer runs the %s listener (another instance took it)", name.removeprefix(LISTENER))

    # --- asking, handing back ----------------------------------------------------------------------------

    def want_apply(self, partnership: str) -> None:
        """Ask the holder to apply a partnership at its next tick (a chat command changed it here)."""
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE leases SET wanted = now() WHERE name = :name"), {"name": partnership})

    def release_all(self) -> int:
        """A clean shutdown: hand back every lease and leave the list of instances."""
        with self.engine.begin() as conn:
            count = conn.execute(
                text("UPDATE leases SET owner = NULL, expires_at = NULL WHERE owner = :me"), {"me": self.id}
            ).rowcount
            conn.execute(text("DELETE FROM instances WHERE id = :id"), {"id": self.id})
        self.held, self.listeners, self._valid_until = set(), set(), 0.0
        log.info("instance %s stopped and handed back %d lease(s)", self.id, count)
        return count


class Renewer(threading.Thread):
    """Ticks on a thread of its own, so a busy event loop (a long render, a slow disk) never lets the
    leases run out; each result is handed to `on_tick` (which passes it to the loop)."""

    def __init__(
        self,
        coordinator: Coordinator,
        names: Callable[[], Sequence[str]],
        listeners: Sequence[str],
        on_tick: Callable[[TickResult], object],
    ) -> None:
        super().__init__(name=f"brug-leases-{coordinator.id}", daemon=True)
        self.coordinator, self.names, self.listeners, self.on_tick = coordinator, names, listeners, on_tick
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.coordinator.renew):
            began = time.monotonic()
            try:
                result = self.coordinator.tick(self.names(), self.listeners)
            except Exception as err:  # noqa: BLE001 - the database is away: what is held stops counting on its own
                log.warning(
                    "could not renew the leases: %s; trying again", str(err).splitlines()[0] if str(err) else err
                )
                continue
            took = time.monotonic() - began
            if took > self.coordinator.renew:  # the leases were renewed late: the database or this host is slow
                log.warning("renewing the leases took %.1f s (they last %.0f s)", took, self.coordinator.ttl)
            self.on_tick(result)

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def overview(engine: Engine) -> tuple[list[InstanceRow], list[tuple[str, str | None, float | None]]]:
    """Who is there and who holds what: the instances (live ones first) and every lease (name, owner, s left)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, host, pid, started, extract(epoch FROM now() - heartbeat) AS age FROM instances "
                "ORDER BY heartbeat DESC, id"
            )
        ).all()
        leases = conn.execute(
            text("SELECT name, owner, extract(epoch FROM expires_at - now()) AS left_s FROM leases ORDER BY name")
        ).all()
    held: dict[str, list[str]] = {}
    for lease in leases:
        if lease.owner and lease.left_s is not None and lease.left_s > 0:
            held.setdefault(lease.owner, []).append(lease.name)
    out = [
        InstanceRow(
            r.id,
            r.host,
            r.pid,
            r.started,
            float(r.age),
            [n for n in held.get(r.id, []) if not n.startswith(LISTENER)],
            [n for n in held.get(r.id, []) if n.startswith(LISTENER)],
        )
        for r in rows
    ]
    return out, [(r.name, r.owner, float(r.left_s) if r.left_s is not None else None) for r in leases]
