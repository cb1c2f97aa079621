"""Benchmark: rendering N partnerships, a first apply into an empty local workspace, and a no-op apply.

Run from the repository root:

    PYTHONPATH=plugin python bench/render.py [--count 1000] [--seed 1] [--workdir DIR]

It generates N realistic partnership files (seeded, so runs are comparable), loads them the way
`brug apply` does, and measures with `time.perf_counter` (wall) and `time.process_time` (CPU):

  load        reading and validating the N files (load_partnerships)
  render      desired_workspace() for all N: every document and post rendered, nothing written
  first apply plan + apply of all N into an empty folder, with a SQLite store beside it (baseline)
  no-op apply the same again: nothing changed, so nothing may be written

Goals (reported, never asserted): render all N in under 2 s on one core; no-op apply under 0.1x the
first apply. The script exits 1 only when the no-op apply wrote something to the workspace (a
correctness failure); slow runs still exit 0. The last line of output is one JSON object for CI logs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml

try:
    import brug  # noqa: F401
except ImportError:  # run without PYTHONPATH: use the package next to this script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))

from brug.adapters.local import LocalChat, LocalFiles
from brug.app.service import ApplyReport, Runtime, apply_partnerships, content_digest
from brug.content.library import Library, load_library
from brug.content.partnerships import LoadedPartnership, load_partnerships
from brug.content.render import Renderer
from brug.domain.types import slugify
from brug.store import Store
from brug.workspace.desired import desired_workspace

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a fixed "now", so every run renders the same text
RENDER_GOAL_S = 2.0
NOOP_GOAL_RATIO = 0.1

DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: generating is not measured
MARKER = ".brug-bench"  # a --workdir is only cleared when this file says the benchmark made it

T = TypeVar("T")

# --- generating partnerships -------------------------------------------------------------------------

# fmt: off
TOWNS = [
    "Brakelveld", "Ouderzele", "Heidebeek", "Molenkerke", "Vlasdonk", "Ravelgem", "Linderode", "Essenhout",
    "Kapelhoek", "Wilgendaal", "Zandbergen", "Beverlo-Noord", "Hoeverzele", "Leiemeersen", "Dorenbos",
]
SCHOOLS = ["De Regenboog", "'t Klavertje", "De Vlieger", "Sint-Jozef", "De Speelvogel", "Het Mozaïek", "De Linde"]
NAMES = ["De Vlierboom", "De Overkant", "Het Anker", "De Brug", "Den Draai", "De Schakel", "'t Pleintje", "De Kiem"]
FIRST = [
    "An", "Bart", "Els", "Koen", "Sofie", "Marc", "Rita", "Hilde", "Pieter", "Jonas", "Yasmina", "Fatma", "Leen",
    "Tom", "Ines", "Wouter", "Evelien", "Sanne", "Dirk", "Jeroen", "Robbe", "Nathalie", "Sarah", "Luc", "Karim",
    "Ilse", "Griet", "Stijn", "Amina", "Joke", "Bram", "Nele", "Ruben", "Mieke", "Thomas", "Lotte",
]
LAST = [
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
    "Dubois", "Hermans", "Aerts", "Lemmens", "Verbeke", "Van Damme", "Claeys", "Smets", "Coppens", "Dewulf",
    "Van Acker", "Vermeulen", "Bogaert", "Ouali", "Yildiz", "El Amrani", "Vandenberghe", "De Backer",
]
# fmt: on


def org_name(kind: str, town: str, rng: random.Random) -> str:
    pick = rng.choice
    return {
        "basisschool": lambda: f"Basisschool {pick(SCHOOLS)}",
        "secundaire-school": lambda: pick([f"Atheneum {town}", f"Sint-Maria-instituut {town}", f"GO! {town}"]),
        "clb": lambda: f"CLB {town}",
        "cbe": lambda: f"Centrum voor Basiseducatie {town}",
        "cvo": lambda: f"CVO {town}",
        "academie": lambda: f"Academie voor Muziek, Woord en Dans {town}",
        "ocmw": lambda: f"OCMW {town}, sociale dienst",
        "caw": lambda: f"CAW regio {town}",
        "huis-van-het-kind": lambda: f"Huis van het Kind {town}",
        "vereniging-armen": lambda: f"{pick(NAMES)} vzw",
        "welzijnsschakel": lambda: f"Welzijnsschakel {pick(NAMES)}",
        "samenlevingsopbouw": lambda: f"Samenlevingsopbouw, project {town}",
        "kinderopvang": lambda: f"Kinderopvang {pick(NAMES)}",
        "jeugdwerk": lambda: f"Speelpleinwerking {pick(NAMES)}",
        "opvoedingsondersteuning": lambda: f"Opvoedingswinkel {town}",
        "gezondheidszorg": lambda: f"Wijkgezondheidscentrum {pick(NAMES)}",
        "integratie": lambda: f"Integratie en inburgering, antenne {town}",
        "vrijetijd": lambda: f"Bibliotheek {town}",
        "lokaal-bestuur": lambda: f"Gemeente {town}",
        "andere": lambda: f"Buurtwerk {pick(NAMES)}",
    }.get(kind, lambda: f"{kind.capitalize()} {town}")()


TEXT: dict[str, dict[str, list[str]]] = {
    "nl": {
        "roles": [
            "Directeur",
            "Zorgcoördinator",
            "Maatschappelijk werker",
            "Groepswerker",
            "Brugfiguur",
            "Beleidsmedewerker",
            "Vrijwilliger",
            "Ervaringsdeskundige in armoede",
            "Coördinator",
            "Opbouwwerker",
            "Teamverantwoordelijke",
            "Leerkracht",
            "Onthaalmedewerker",
            "Educatief medewerker",
        ],
        "issue": [
            "Gezinnen met weinig inkomen vinden de weg naar {a} en {b} maar moeilijk, en vragen die aan de "
            "schoolpoort opduiken raken niet tot bij wie er iets mee kan.",
            "De partners in {town} kennen elkaars aanbod te weinig. Ouders worden van loket naar loket gestuurd "
            "en haken af voor er echt hulp is.",
            "Kleuters uit kwetsbare gezinnen in {town} komen onregelmatig naar school, en niemand heeft zicht op "
            "wat er thuis speelt.",
            "Volwassenen die in armoede leven, nemen zelden deel aan een cursus, al willen ze graag bijleren.",
        ],
        "goal": [
            "Tegen het einde van het schooljaar weet elk teamlid van {a} bij wie het met een vraag van ouders "
            "terechtkan, en is er elke maand een vast overleg met {b}.",
            "Binnen een jaar maken we samen twee concrete afspraken die drempels voor gezinnen in {town} "
            "wegnemen, en volgen we ze op in elk overleg.",
            "Tegen juni ligt er een rollenverdeling die alle partners goedkeuren en die aan de teams is voorgesteld.",
        ],
        "target": [
            "Gezinnen met jonge kinderen in {town} die het financieel moeilijk hebben.",
            "Ouders en leerlingen van {a} die in armoede leven, en de mensen die hen elke dag zien.",
            "Volwassenen die naar {b} komen en graag iets willen bijleren.",
        ],
        "added": [
            "Dagelijks contact met kinderen en ouders, en een plek die gezinnen vertrouwen.",
            "Kennis van rechten en tegemoetkomingen, en mensen die ze mee kunnen aanvragen.",
            "Jarenlang opgebouwd vertrouwen bij gezinnen die moeilijk te bereiken zijn.",
            "Tijd en mandaat om partners samen te brengen en acties op te volgen.",
            "Lesgevers die op maat werken in plaats van met een vast pakket.",
        ],
        "engagement": [
            "We stellen een lokaal ter beschikking voor het overleg.",
            "We sturen binnen de week een kort verslag met de afspraken.",
            "We brengen wat we horen van ouders mee naar het overleg, zonder namen.",
            "We zorgen voor één vast aanspreekpunt.",
            "We bespreken de plannen eerst met onze eigen groep.",
        ],
        "location": ["Vergaderzaal van het Sociaal Huis", "Refter van de school", "Ontmoetingsruimte van de vzw"],
    },
    "en": {
        "roles": [
            "Head teacher",
            "Care coordinator",
            "Social worker",
            "Group worker",
            "Bridge worker",
            "Policy officer",
            "Volunteer",
            "Expert by experience in poverty",
            "Coordinator",
            "Community worker",
            "Team lead",
        ],
        "issue": [
            "Families on a low income rarely find their way to {a} and {b}, and questions raised at the school "
            "gate do not reach the people who could act on them.",
            "The partners in {town} know too little of what each other offers, so parents are sent from one "
            "desk to the next.",
        ],
        "goal": [
            "By the end of the school year every staff member of {a} knows whom to ask about a parent's "
            "question, and there is a monthly meeting with {b}.",
            "Within a year the partners agree on two concrete changes that make help easier to reach in {town}.",
        ],
        "target": [
            "Families with young children in {town} who struggle to make ends meet.",
            "Parents and pupils of {a} living in poverty, and the staff who see them every day.",
        ],
        "added": [
            "Daily contact with children and parents, in a place families trust.",
            "Knowledge of rights and benefits, and people who can help apply for them.",
            "Time and a mandate to bring partners together and follow up on actions.",
        ],
        "engagement": [
            "We provide a room for the meetings.",
            "We send short minutes with the agreements within a week.",
            "We bring what we hear from parents to the meeting, without names.",
        ],
        "location": ["Meeting room of the community centre", "School canteen", "Meeting room of the association"],
    },
}

MEETING_RULES = [
    ("FREQ=MONTHLY;BYDAY=+2TH", "13:30"),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", "15:45"),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20270629T235959", "15:45"),
    ("FREQ=MONTHLY;BYDAY=-1FR", "09:30"),
    ("FREQ=WEEKLY;INTERVAL=3;BYDAY=WE", "14:00"),
    ("FREQ=MONTHLY;BYDAY=+1MO", "19:00"),
]
REFLECTION_RULES = ["FREQ=WEEKLY;INTERVAL=3;BYDAY=FR", "FREQ=MONTHLY;BYDAY=+1MO", "FREQ=MONTHLY;BYDAY=-1FR"]


def generate(index: int, rng: random.Random, library: Library) -> dict[str, Any]:
    """One partnership file as plain data, like a coordinator would write it."""
    language = "en" if rng.random() < 0.15 else "nl"
    t = TEXT[language]
    town = rng.choice(TOWNS)
    workflow = rng.choice(sorted(library.phase_models))
    phases = [ph.id for ph in library.phase_models[workflow].phases]
    kinds = sorted(library.kinds)

    organisations: list[dict[str, Any]] = []
    used_orgs: set[str] = set()
    used_members: set[str] = set()
    for _ in range(rng.randint(5, 12)):
        kind = rng.choice(kinds)
        name = org_name(kind, town, rng)
        org_id = slugify(name)
        while org_id in used_orgs:
            org_id += "-2"
        used_orgs.add(org_id)
        members = []
        for _ in range(rng.randint(1, 3)):
            while (person := f"{rng.choice(FIRST)} {rng.choice(LAST)}") and slugify(person) in used_members:
                pass
            used_members.add(slugify(person))
            member: dict[str, Any] = {"name": person, "role": rng.choice(t["roles"])}
            if rng.random() < 0.3:
                member["mandate"] = "beslissing"
            if rng.random() < 0.2:
                member["actor"] = "omkadering"
            if not members:
                member["contact"] = True
            member["email"] = f"{slugify(person).replace('-', '.')}@{org_id}.example"
            members.append(member)
        org: dict[str, Any] = {"id": org_id, "name": name, "kind": kind}
        if kind == "andere":
            org["kind_other"] = "Buurtwerk"
        if rng.random() < 0.7:
            org["added_value"] = rng.choice(t["added"])
            org["engagements"] = rng.sample(t["engagement"], rng.randint(1, 3))
        org["members"] = members
        organisations.append(org)
    organisations[0]["members"][0]["coordinator"] = True

    names = [o["name"] for o in organisations]
    fill = {"town": town, "a": names[0], "b": names[1]}
    data: dict[str, Any] = {
        "id": f"{slugify(town)}-{index:05d}",
        "name": f"{'Samen sterk in' if language == 'nl' else 'Working together in'} {town} #{index}",
        "language": language,
        "timezone": "Europe/Brussels",
        "workflow": workflow,
        "phase": rng.choice(phases),
        "form": rng.choice(["overleg", "ad-hoc", "netwerk", "fusie"]),
        "issue": rng.choice(t["issue"]).format(**fill),
    }
    if rng.random() < 0.7:
        data["goal"] = rng.choice(t["goal"]).format(**fill)
    data["target_group"] = rng.choice(t["target"]).format(**fill)
    data["organisations"] = organisations

    # tandems: a member of one organisation paired with one of another
    pairs = []
    for _ in range(rng.randint(0, 2)):
        a, b = rng.sample(organisations, 2)
        pair = [slugify(rng.choice(a["members"])["name"]), slugify(rng.choice(b["members"])["name"])]
        if pair not in pairs:
            pairs.append(pair)
    if pairs:
        data["tandems"] = pairs

    first = date(2026, 9, 1) + timedelta(days=rng.randint(0, 30))
    if rng.random() < 0.8:
        rule, at = rng.choice(MEETING_RULES)
        meetings: dict[str, Any] = {"start": f"{first} {at}", "rrule": rule}
    else:
        meetings = {"dates": [f"{first + timedelta(weeks=6 * i)} 09:30" for i in range(rng.randint(4, 8))]}
    meetings["duration_minutes"] = rng.choice([60, 90, 120, 150])
    meetings["agenda_lead_days"] = rng.randint(2, 7)
    if rng.random() < 0.8:
        meetings["location"] = rng.choice(t["location"])
    data["meetings"] = meetings

    if rng.random() < 0.85:
        data["reflection"] = {
            "start": f"{first + timedelta(days=7)} 12:00",
            "rrule": rng.choice(REFLECTION_RULES),
            "pulse": rng.random() < 0.8,
            "skip_school_holidays": rng.random() < 0.9,
            "show_names": rng.random() < 0.7,
        }
    if rng.random() < 0.5:
        data["agreement"] = {"signed": "2026-10-13", "review": "2027-06-15", "ends": "2028-08-31"}
    data["platforms"] = {"chat": ["local"], "files": "local"}
    return data


# --- measuring ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    wall: float
    cpu: float


def measure(fn: Callable[[], T]) -> tuple[T, Timing]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under `root` with its modification time, size and content hash."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size, digest)
    return out


def make_runtime(library: Library, workdir: Path) -> Runtime:
    """Like bot.build_runtime for a brug.toml with only a local workspace."""
    clock = lambda: NOW  # noqa: E731
    workspace = workdir / "werkruimte"
    return Runtime(
        library=library,
        renderer=Renderer(),
        store=Store.at(workdir / "staat" / "brug.db"),
        files=LocalFiles(workspace),
        chats={"local": LocalChat(workspace, clock)},
        clock=clock,
        content_digest=content_digest(),
    )


def apply_all(loaded: list[LoadedPartnership], rt: Runtime) -> tuple[ApplyReport, int, list[str]]:
    report = ApplyReport()
    plans, errors = asyncio.run(apply_partnerships(loaded, rt, report))
    return report, sum(len(plan.changes) for plan in plans), errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="number of partnerships (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the generated partnerships (default 1)")
    parser.add_argument("--workdir", type=Path, help="folder to work in (default: a temporary one, removed after)")
    args = parser.parse_args(argv)

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="brug-bench-")) if temporary else args.workdir.resolve()
    try:
        return run(args.count, args.seed, workdir)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


def run(count: int, seed: int, workdir: Path) -> int:
    if workdir.is_dir() and any(workdir.iterdir()) and not (workdir / MARKER).exists():
        print(f"{workdir} is not empty and was not made by this benchmark; give an empty folder", file=sys.stderr)
        return 2
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by bench/render.py; removed and rebuilt on each run\n", encoding="utf-8")
    for sub in ("partnerschappen", "werkruimte", "staat"):
        if (workdir / sub).exists():
            shutil.rmtree(workdir / sub)
    sources = workdir / "partnerschappen"
    sources.mkdir()

    library = load_library()
    rng = random.Random(seed)

    def write_files() -> None:
        for i in range(count):
            data = generate(i, rng, library)
            text = yaml.dump(data, Dumper=DUMPER, allow_unicode=True, sort_keys=False, width=110)
            (sources / f"{data['id']}.yaml").write_text(text, encoding="utf-8")

    _, t_generate = measure(write_files)
    (loaded, problems), t_load = measure(lambda: load_partnerships([sources], library))
    if problems or len(loaded) != count:
        for problem in problems[:10]:
            print(f"generated file rejected: {problem}", file=sys.stderr)
        print(f"{len(problems)} problem(s) in the generated files; the generator is wrong", file=sys.stderr)
        return 2
    partnerships = [item.partnership for item in loaded]

    # a. render: every document and post of every partnership, in memory
    renderer = Renderer()
    workspaces, t_render = measure(lambda: [desired_workspace(p, library, renderer, NOW) for p in partnerships])
    documents = sum(len(ws.documents) for ws in workspaces)
    posts = sum(len(ws.posts) for ws in workspaces)
    doc_bytes = sum(len(d.content.encode("utf-8")) for ws in workspaces for d in ws.documents)
    del workspaces

    # b. first apply into an empty folder (the runtime is built outside the timing, as brug does once)
    rt = make_runtime(library, workdir)
    (first, first_changes, first_errors), t_first = measure(lambda: apply_all(loaded, rt))
    before = tree(workdir / "werkruimte")

    # c. no-op apply: the same partnerships again, nothing changed
    (noop, noop_changes, noop_errors), t_noop = measure(lambda: apply_all(loaded, rt))
    after = tree(workdir / "werkruimte")
    rt.store.close()

    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    touched = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    noop_writes = noop.written + noop.posts + len(noop.siblings) + len(noop.conflicts)
    noop_clean = not (added or removed or touched or noop_writes or noop_changes)

    ratio = t_noop.wall / t_first.wall if t_first.wall else float("inf")
    cpu_ratio = t_noop.cpu / t_first.cpu if t_first.cpu else float("inf")  # steadier on a busy machine
    render_goal = t_render.wall < RENDER_GOAL_S and t_render.cpu < RENDER_GOAL_S
    noop_goal = ratio < NOOP_GOAL_RATIO

    def rate(n: int, t: Timing) -> float:
        return n / t.wall if t.wall else float("inf")

    print(
        f"brug benchmark: {count} partnerships, seed {seed}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPU(s) (the work runs on one)"
    )
    print(f"workdir {workdir}")
    print()
    print(
        f"partnerships {len(partnerships):>8}   organisations {sum(len(p.organisations) for p in partnerships):>6}"
        f"   members {sum(len(p.members) for p in partnerships):>6}"
    )
    print(f"documents    {documents:>8}   posts {posts:>14}   bytes {doc_bytes:>8} ({doc_bytes / 1e6:.1f} MB)")
    print(f"files in workspace after first apply: {len(before)}")
    print()
    print(f"{'step':<14}{'wall s':>9}{'cpu s':>9}{'docs/s':>10}  notes")
    print(f"{'generate':<14}{t_generate.wall:>9.3f}{t_generate.cpu:>9.3f}{'':>10}  writing the YAML files (not a goal)")
    print(f"{'load':<14}{t_load.wall:>9.3f}{t_load.cpu:>9.3f}{'':>10}  load_partnerships: parse + validate")
    print(
        f"{'render':<14}{t_render.wall:>9.3f}{t_render.cpu:>9.3f}{rate(documents, t_render):>10.0f}"
        f"  desired_workspace for all, nothing written"
    )
    print(
        f"{'first apply':<14}{t_first.wall:>9.3f}{t_first.cpu:>9.3f}{rate(documents, t_first):>10.0f}"
        f"  {first.written} documents written, {first.posts} posts, {first_changes} changes"
    )
    print(
        f"{'no-op apply':<14}{t_noop.wall:>9.3f}{t_noop.cpu:>9.3f}{rate(documents, t_noop):>10.0f}"
        f"  {noop.written} written, {noop.posts} posts, {noop_changes} changes"
    )
    print()
    print(f"{'ratio no-op / first apply':<38}{ratio:.3f} (cpu: {cpu_ratio:.3f})")
    print(
        f"{f'goal: render {count} under {RENDER_GOAL_S:g} s':<38}{'met' if render_goal else 'MISSED'}"
        f" ({t_render.wall:.2f} s wall, {t_render.cpu:.2f} s cpu)"
    )
    print(
        f"{f'goal: no-op under {NOOP_GOAL_RATIO:g}x first apply':<38}{'met' if noop_goal else 'MISSED'} ({ratio:.3f}x)"
    )
    print(
        f"{'no-op apply wrote nothing':<38}{'yes' if noop_clean else 'NO'}"
        f" ({len(touched)} changed, {len(added)} new, {len(removed)} removed files; "
        f"{noop_writes} writes reported)"
    )
    for name in [*touched[:5], *added[:5], *removed[:5]]:
        print(f"  changed by the no-op apply: {name}")
    errors = first_errors + noop_errors
    for line in errors[:5]:
        print(f"  platform error: {line}")

    figures = {
        "bench": "render",
        "count": count,
        "seed": seed,
        "python": platform.python_version(),
        "documents": documents,
        "posts": posts,
        "bytes": doc_bytes,
        "files": len(before),
        "generate_s": round(t_generate.wall, 4),
        "load_s": round(t_load.wall, 4),
        "load_cpu_s": round(t_load.cpu, 4),
        "render_s": round(t_render.wall, 4),
        "render_cpu_s": round(t_render.cpu, 4),
        "render_docs_per_s": round(rate(documents, t_render), 1),
        "first_apply_s": round(t_first.wall, 4),
        "first_apply_cpu_s": round(t_first.cpu, 4),
        "first_apply_docs_per_s": round(rate(documents, t_first), 1),
        "noop_apply_s": round(t_noop.wall, 4),
        "noop_apply_cpu_s": round(t_noop.cpu, 4),
        "noop_ratio": round(ratio, 4),
        "noop_cpu_ratio": round(cpu_ratio, 4),
        "render_goal_met": render_goal,
        "noop_goal_met": noop_goal,
        "noop_wrote_nothing": noop_clean,
        "noop_files_changed": len(touched) + len(added) + len(removed),
        "errors": len(errors),
    }
    print(json.dumps(figures, sort_keys=False))
    return 0 if noop_clean else 1


if __name__ == "__main__":
    sys.exit(main())
