"""Benchmark: the coordinators' portfolio page with 1,000 partnerships, over real HTTP.

Run from the repository root:

    PYTHONPATH=plugin python bench/web.py [--partnerships 1000] [--requests 30] [--seed 1]

It generates (seeded, not timed) N partnerships that all include the coordinating organisation
(the worst case: the viewer sees every one), with meetings, a few open and overdue actions each,
signals, agreement versions and sign-offs, the date each entered its phase, and two closed barometer rounds for most (a few with too
few respondents to show), in a fresh SQLite store. Then it starts the web app with uvicorn on
loopback, signs in with a session cookie, and measures with a real HTTP client (httpx), one request
at a time:

  baseline   GET /healthz: the same server, the same client, the least a page costs
  first      the first GET /portfolio: it expands every meeting rule and renders every row
  portfolio  GET /portfolio: every partnership's row (phase and time in it, meetings, actions,
             agreement, the barometer's small radar and trend, signals), sorted by "needs attention"
  sorted     GET /portfolio?sort=barometer&attention=1: another order and a filter
  changed    GET /portfolio after a new action each time (added untimed): the store is read again
             and every row made again (the rows' HTML of the partnerships that did not change is kept)

Goal (reported, never asserted): portfolio p50 and p95 under 300 ms for 1,000 partnerships. The
ratio portfolio / baseline is printed too. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

try:
    import brug  # noqa: F401
except ImportError:  # run without PYTHONPATH: use the package next to this script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))

import httpx
import uvicorn

from brug.adapters.local import LocalChat, LocalFiles
from brug.app.links import LinkSigner
from brug.app.service import Runtime, content_digest
from brug.content.library import load_library
from brug.content.render import Renderer
from brug.domain.partnership import Partnership
from brug.domain.types import Bouwsteen
from brug.store import Store
from brug.web.app import Viewer, create_app

GOAL_MS = 300.0
NOW = datetime(2026, 11, 16, 10, tzinfo=UTC)
VIEWER = "coordinator@example.org"


def generate(count: int, seed: int) -> list[Partnership]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        others = [
            {
                "id": f"org-{i}-{j}",
                "name": f"Organisatie {i}-{j}",
                "kind": rng.choice(["basisschool", "clb", "ocmw", "caw"]),
                "members": [{"name": f"Lid {i}-{j}-{k}", "role": "Medewerker"} for k in range(rng.randint(1, 3))],
            }
            for j in range(rng.randint(2, 6))
        ]
        out.append(
            Partnership.model_validate(
                {
                    "id": f"samenwerking-{i:04d}",
                    "name": f"Samenwerking {i:04d}",
                    "phase": rng.choice(["vind-elkaar", "ja-graag", "draagvlak", "wij-wordt-ons"]),
                    "meetings": {"start": "2026-09-08 14:00", "rrule": f"FREQ=WEEKLY;INTERVAL={rng.randint(2, 10)}"},
                    "organisations": [
                        {
                            "id": "gemeente",
                            "name": "Gemeente",
                            "kind": "lokaal-bestuur",
                            "members": [{"name": f"Coordinator {i}", "role": "Coördinator", "coordinator": True}],
                        },
                        *others,
                    ],
                }
            )
        )
    return out


ROUNDS = [("2025-2026-3", datetime(2026, 4, 20, tzinfo=UTC)), ("2026-2027-1", datetime(2026, 9, 1, tzinfo=UTC))]


def fill(store: Store, partnerships: list[Partnership], seed: int) -> None:
    rng = random.Random(seed + 1)
    for p in partnerships:
        store.record_applied(  # in its phase for a few days up to a year and more
            p.id, name=p.name, workflow=p.workflow, phase=p.phase, phase_changes=0, inputs_hash=None, source=None,
            at=NOW - timedelta(days=rng.randint(3, 500)),
        )
        for n in range(rng.randint(0, 6)):
            due = f"2026-{rng.randint(9, 12):02d}-{rng.randint(1, 28):02d}"
            store.add_action(p.id, f"Actie {n}", "iemand", due, f"bench:{p.id}:{n}")
        for n in range(rng.randint(0, 3)):
            store.add_signal(
                p.id, text=f"Signaal {n}", theme="onderwijs", level=None, raised_by="iemand",
                organisation="gemeente", at=NOW, origin=f"bench:{p.id}:s{n}",
            )
        if rng.random() < 0.8:  # two closed rounds; one in ten with too few respondents to show
            for round_id, starts in ROUNDS:
                store.ensure_round(p.id, round_id, starts, NOW, 3)
                respondents = rng.choice([2, 4, 5, 6, 7, 8, 9, 10, 11, 12])
                cells = {}
                if respondents >= 3:
                    for b in Bouwsteen:
                        counts = [0] * 5
                        for _ in range(respondents):
                            counts[min(4, max(0, int(rng.gauss(2.4, 1.0))))] += 1
                        cells[(b.value, "")] = tuple(counts)
                store.close_round(p.id, round_id, respondents, cells)
        versions = rng.randint(0, 3)
        for number in range(1, versions + 1):
            store.add_agreement_version(
                p.id, sha256=f"{p.id}-{number}", fingerprint=f"f{number}", platform="local", who="iemand",
                sections=["Doel"], content="…", at=datetime(2026, 9, number, tzinfo=UTC),
            )
        if versions:
            signed = rng.randint(1, versions)
            for org in p.organisations:
                store.add_signoff(
                    p.id, organisation=org.id, member="iemand", member_name="Iemand", kind="signed", version=signed,
                    sha256=f"{p.id}-{signed}", origin=f"bench:{p.id}:{org.id}", at=datetime(2026, 9, 20, tzinfo=UTC),
                )


def timed(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return (time.perf_counter() - start) * 1000


def measure(client: httpx.Client, path: str, requests: int, before: Callable[[int], object] | None = None) -> list[float]:
    client.get(path)  # warm up
    times = []
    for n in range(requests):
        if before is not None:
            before(n)  # not timed
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partnerships", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    library = load_library()
    partnerships = generate(args.partnerships, args.seed)
    known = {p.id: p for p in partnerships}
    with tempfile.TemporaryDirectory() as folder:
        store = Store.at(Path(folder) / "state.db")
        fill(store, partnerships, args.seed)
        clock = lambda: NOW  # noqa: E731
        rt = Runtime(
            library=library,
            renderer=Renderer(),
            store=store,
            files=LocalFiles(Path(folder) / "ws"),
            chats={"local": LocalChat(Path(folder) / "ws", clock, {})},
            clock=clock,
            content_digest=content_digest(),
        )
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        signer = LinkSigner("bench-secret-of-enough-length", f"http://127.0.0.1:{port}")
        viewers = {VIEWER: Viewer(VIEWER, ("gemeente",), ("Gemeente",))}
        app = create_app(rt, lambda: known, signer, per_ip=10**9, per_link=10**9, viewers=lambda: viewers)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        try:
            cookies = {"brug_session": signer.session(VIEWER)}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies=cookies, timeout=120) as client:
                baseline = measure(client, "/healthz", args.requests)
                first = timed(client, "/portfolio")
                portfolio = measure(client, "/portfolio", args.requests)
                other = measure(client, "/portfolio?sort=barometer&attention=1", args.requests)
                changed = measure(  # a new action before each request: the store is read again, the rows made again
                    client, "/portfolio", args.requests,
                    lambda n: store.add_action(partnerships[n].id, "Nieuw", "iemand", "2026-12-01", f"bench:new:{n}"),
                )
                page = client.get("/portfolio").text
                rows, radars = page.count('<th scope="row">'), page.count('class="mini-radar"')
        finally:
            server.should_exit = True
            thread.join(timeout=30)
        store.close()
    result = {
        "bench": "web-portfolio",
        "partnerships": args.partnerships,
        "rows": rows,
        "radars": radars,
        "page_kb": round(len(page.encode()) / 1024),
        "requests": args.requests,
        "baseline_p50_ms": round(statistics.median(baseline), 2),
        "first_ms": round(first, 1),
        "portfolio_p50_ms": round(statistics.median(portfolio), 1),
        "portfolio_p95_ms": round(percentile(portfolio, 0.95), 1),
        "sorted_p50_ms": round(statistics.median(other), 1),
        "sorted_p95_ms": round(percentile(other, 0.95), 1),
        "changed_p50_ms": round(statistics.median(changed), 1),
        "changed_p95_ms": round(percentile(changed, 0.95), 1),
        "ratio_p50": round(statistics.median(portfolio) / statistics.median(baseline), 1),
        "goal_ms": GOAL_MS,
        "python": platform.python_version(),
    }
    print(
        f"portfolio of {rows} partnerships ({radars} radars, {result['page_kb']} kB): "
        f"p50 {result['portfolio_p50_ms']} ms, "
        f"p95 {result['portfolio_p95_ms']} ms (goal p50 and p95 < {GOAL_MS:.0f} ms); sorted and filtered p50 "
        f"{result['sorted_p50_ms']} ms, p95 {result['sorted_p95_ms']} ms; after a change p50 {result['changed_p50_ms']} ms, "
        f"p95 {result['changed_p95_ms']} ms; the first request {result['first_ms']} ms; "
        f"/healthz p50 {result['baseline_p50_ms']} ms; ratio {result['ratio_p50']}×"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
