"""The `brug` command line: init, validate, plan, apply, status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError

import brug
from brug import logs, metrics
from brug.app import barometer
from brug.app.bot import Bot, build_runtime, outliving_store_outages
from brug.app.export import export_partnership
from brug.app.leases import Coordinator, Renewer, TickResult
from brug.app.lock import AlreadyRunning, instance_lock
from brug.app.scheduler import AGENDA, REFLECTION
from brug.app.service import (
    REASONS,
    ApplyReport,
    PartnershipPlan,
    Runtime,
    agreement_state,
    apply_partnerships,
    plan_partnership,
)
from brug.console import console, styled
from brug.content.library import Library, load_library
from brug.content.partnerships import LoadedPartnership, load_partnerships
from brug.content.problems import Problem, ProblemsFound, display_path, os_reason, sort_problems
from brug.content.render import format_local
from brug.content.resources import data_dir
from brug.domain.holidays import load_school_calendar
from brug.domain.partnership import Partnership
from brug.domain.types import Language
from brug.planner import Action
from brug.settings import CONFIG_NAME, Settings, display_state, load_settings
from brug.store import Store, is_database_url

LANG: Language = "en" if os.environ.get("BRUG_LANGUAGE") == "en" else "nl"


def t(nl: str, en: str) -> str:
    """Pick the text in brug's own language (`language` in brug.toml or BRUG_LANGUAGE; Dutch by default)."""
    return en if LANG == "en" else nl


out = console()
err = console(stderr=True)

app = typer.Typer(
    name="brug",
    help=t(
        "brug geeft elke samenwerking tussen organisaties één gedeelde werkruimte: fasegidsen, een "
        "samenwerkingsakkoord om samen te schrijven, agenda's en reflectievragen.\n\n"
        "Beschrijf een samenwerking in een YAML-bestand (begin met 'brug init'), controleer het met "
        "'brug validate', bekijk met 'brug plan' wat er zou veranderen en voer het uit met 'brug apply'.",
        "brug gives every partnership between organisations one shared workspace: phase guides, a "
        "partnership agreement to write together, agendas and reflection prompts.\n\n"
        "Describe a partnership in a YAML file (start with 'brug init'), check it with 'brug validate', "
        "see what would change with 'brug plan' and carry it out with 'brug apply'.",
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)


class State:
    config: Path | None = None
    now: datetime | None = None
    clock: Callable[[], datetime] | None = None
    speed: float = 1.0


state = State()

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help=t(
            "Partnerschapsbestanden of mappen met .yaml-bestanden. Standaard: 'partnerships' uit "
            "brug.toml (anders ./partnerschappen).",
            "Partnership files or folders of .yaml files. Default: 'partnerships' from brug.toml "
            "(else ./partnerschappen).",
        ),
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"brug {brug.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="BRUG_CONFIG",
            help=t(
                "Het instellingenbestand. Standaard ./brug.toml als het bestaat.",
                "The settings file. Default: ./brug.toml if it exists.",
            ),
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help=t(
                "Vertel meer over wat brug doet (-vv voor nog meer).", "Tell more about what brug does (-vv for more)."
            ),
        ),
    ] = 0,
    clock_spec: Annotated[
        str | None,
        typer.Option(
            "--clock",
            hidden=True,
            envvar="BRUG_CLOCK",
            help="A running fake clock for demos and tests: START@ANCHORxSPEED, e.g. "
            "2026-09-01T00:00:00+00:00@1763900000x3600 (at real epoch ANCHOR it is START; SPEED× real time).",
        ),
    ] = None,
    now: Annotated[
        datetime | None,
        typer.Option(
            "--now", hidden=True, envvar="BRUG_NOW", help=("Pretend it is this moment (UTC), for demos and tests.")
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help=t("Toon de versie en stop.", "Show the version and exit."),
        ),
    ] = False,
) -> None:
    state.config = config
    state.now = now.replace(tzinfo=UTC) if now is not None and now.tzinfo is None else now
    if clock_spec:
        state.clock, state.speed = running_clock(clock_spec)
    logs.configure(verbose, err)


# --- helpers ---------------------------------------------------------------------------------------


class ApplyProgress:
    """The progress bar of `brug apply`: which partnership, which step, and why it is slow when it is."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress = progress
        self.task = task
        self.partnership = ""
        self.what = ""
        self.told_at = -1e9  # when the rate-limit line was last printed

    def advance(self) -> None:
        self.progress.advance(self.task)

    def step(self, partnership: str, what: str) -> None:
        self.partnership, self.what = partnership, what
        self.progress.update(self.task, description=f"{partnership} · {what}")

    def rate_limited(self, platform: str, wait: float, left: float | None, hint: str) -> None:
        minutes = (left if left is not None else wait) / 60
        about = f"±{minutes:.0f} min" if minutes >= 1 else "<1 min"
        self.progress.update(
            self.task,
            description=f"{self.partnership} · {self.what} "
            + t(f"(afgeremd, nog {about})", f"(rate-limited, {about} left)"),
        )
        if minutes < 1 or time.monotonic() - self.told_at < 600:
            return  # a short wait, or said less than ten minutes ago
        self.told_at = time.monotonic()
        self.progress.console.print(
            styled(
                t(
                    "[yellow]⏳[/] De {} remt brug af: nog ongeveer {} min voor {}. Een beheerder van de server kan "
                    "de limiet voor brug opheffen: {}",
                    "[yellow]⏳[/] The {} is rate-limiting brug: about {} min left for {}. The server's administrator "
                    "can lift brug's limit: {}",
                ),
                {"matrix": t("Matrix-homeserver", "Matrix homeserver")}.get(platform, platform),
                f"{minutes:.0f}",
                self.partnership,
                hint,
            )
        )


def fail(problems: Sequence[Problem], code: int = 1) -> NoReturn:
    for problem in sort_problems(problems):
        if sys.stderr.isatty():
            err.print(styled("[red]✗[/red] {}", problem))
        else:
            print(f"✗ {problem}", file=sys.stderr)
    raise typer.Exit(code)


def settings() -> Settings:
    """brug.toml; its `language` sets the language of brug's messages (BRUG_LANGUAGE, when set, wins)."""
    global LANG
    try:
        loaded = load_settings(state.config, LANG)
    except ProblemsFound as found:
        fail(found.problems)
    chosen = os.environ.get("BRUG_LANGUAGE")
    LANG = chosen if chosen in ("nl", "en") else loaded.language  # type: ignore[assignment]
    return loaded


def library(s: Settings) -> Library:
    try:
        return load_library(s.phase_models, LANG)
    except ProblemsFound as found:
        fail(found.problems)


@contextlib.contextmanager
def single_instance(s: Settings, *, running: bool = False) -> Iterator[None]:
    """apply and run change the workspaces: one process at a time per state database — except several
    `brug run` on PostgreSQL (`running`), which share the lock and divide the partnerships by leases."""
    several = running and is_database_url(s.state)
    try:
        with instance_lock(s.state, shared=several):
            yield
    except AlreadyRunning as busy:
        if running and not several:
            err.print(
                "✗ "
                + t(
                    f"Er draait al een brug (proces {busy.holder}) met {display_state(busy.state)}. Met een "
                    "SQLite-bestand draait er maar één 'brug run' tegelijk; voor meerdere instanties die het werk "
                    "delen zet je 'state' op een PostgreSQL-databank (zie 'brug store copy').",
                    f"A brug (process {busy.holder}) is already running with {display_state(busy.state)}. With a "
                    "SQLite file only one 'brug run' runs at a time; for several instances that share the work, "
                    "point 'state' at a PostgreSQL database (see 'brug store copy').",
                )
            )
            raise typer.Exit(1) from None
        err.print(
            "✗ "
            + t(
                f"Er werkt al een andere brug (proces {busy.holder}) met {display_state(busy.state)}. Wacht tot "
                "die klaar is; draait 'brug run', dan werkt die de werkruimtes zelf bij.",
                f"Another brug (process {busy.holder}) is already working with {display_state(busy.state)}. "
                "Wait until it is done; if 'brug run' is running, it updates the workspaces itself.",
            )
        )
        raise typer.Exit(1) from None


def stop_on_signals(stop: asyncio.Event) -> asyncio.Event:
    """Ctrl-C or SIGTERM sets `stop` (work ends after the step in hand); a second one stops at once."""
    loop = asyncio.get_running_loop()

    def first(sig: signal.Signals) -> None:
        stop.set()
        loop.remove_signal_handler(sig)  # the default again: a second Ctrl-C interrupts at once

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, first, sig)
    return stop


def clock() -> datetime:
    if state.clock is not None:
        return state.clock()
    return state.now or datetime.now(UTC)


def running_clock(spec: str) -> tuple[Callable[[], datetime], float]:
    """START@ANCHORxSPEED: a clock that shows START at real epoch ANCHOR and runs SPEED times as fast."""
    try:
        start_text, rest = spec.split("@", 1)
        anchor_text, speed_text = rest.split("x", 1)
        start, anchor, speed = datetime.fromisoformat(start_text), float(anchor_text), float(speed_text)
    except ValueError:
        err.print(f"--clock: expected START@ANCHORxSPEED, got {spec!r}")
        raise typer.Exit(2) from None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    return (lambda: start + timedelta(seconds=(time.time() - anchor) * speed)), speed


def partnerships(s: Settings, lib: Library, paths: list[Path] | None) -> list[LoadedPartnership]:
    targets = paths or s.partnerships
    loaded, problems = load_partnerships(targets, lib, LANG)
    if problems:
        fail(problems)
    if not loaded:
        err.print(
            t(
                f"Geen partnerschapsbestanden gevonden in {', '.join(map(display_path, targets))}. "
                "Begin met 'brug init'.",
                f"No partnership files found in {', '.join(map(display_path, targets))}. Start with 'brug init'.",
            )
        )
        raise typer.Exit(1)
    return loaded


def runtime(s: Settings, lib: Library, *, remove_members: bool = False) -> Runtime:
    try:
        return build_runtime(s, lib, clock, remove_members=remove_members, language=LANG)
    except ProblemsFound as found:
        fail(found.problems)
    except DBAPIError as problem:  # e.g. the PostgreSQL server cannot be reached or refuses the login
        reason = database_reason(problem)
        where = display_state(s.state)
        fail(
            [
                Problem(
                    CONFIG_NAME,
                    ("state",),
                    t(f"kan {where} niet gebruiken: {reason}", f"cannot use {where}: {reason}"),
                )
            ]
        )
    except OSError as problem:  # e.g. the state folder cannot be made or written
        where = display_state(s.state)
        fail(
            [
                Problem(
                    CONFIG_NAME,
                    ("state",),
                    t(
                        f"kan {where} niet gebruiken: {os_reason(problem, LANG)}",
                        f"cannot use {where}: {os_reason(problem, LANG)}",
                    ),
                )
            ]
        )


def database_reason(problem: DBAPIError) -> str:
    """The database driver's own first line (e.g. 'connection refused'), without SQLAlchemy's wrapping."""
    return str(problem.orig).strip().splitlines()[0] if problem.orig else type(problem).__name__


async def make_plans(loaded: list[LoadedPartnership], rt: Runtime) -> list[PartnershipPlan]:
    try:
        return [await plan_partnership(item.partnership, display_path(item.path), rt) for item in loaded]
    finally:
        await rt.close()


ACTION_LABEL = {
    "nl": {
        Action.create: "[green]+ nieuw[/]",
        Action.update: "[yellow]~ bijwerken[/]",
        Action.sibling: "[magenta]+ nieuwe versie[/]",
        Action.post: "[cyan]» bericht[/]",
        Action.provision: "[blue]⚙ inrichten[/]",
    },
    "en": {
        Action.create: "[green]+ create[/]",
        Action.update: "[yellow]~ update[/]",
        Action.sibling: "[magenta]+ new version[/]",
        Action.post: "[cyan]» message[/]",
        Action.provision: "[blue]⚙ provision[/]",
    },
}


def print_plan(plans: list[PartnershipPlan]) -> int:
    changes = 0
    for plan in plans:
        for chat in plan.missing_chats:
            warning = t(
                "chatplatform '{}' staat niet in brug.toml; berichten gaan alleen naar de andere platformen",
                "chat platform '{}' is not configured in brug.toml; posts go to the other platforms only",
            )
            err.print(styled("[yellow]![/] {}: " + warning, plan.partnership.id, chat))
        if not plan.changes:
            continue
        table = Table(
            title=f"{plan.partnership.name} ({plan.partnership.id})",
            title_justify="left",
            show_edge=False,
            header_style="bold",
        )
        table.add_column(t("wat", "what"))
        table.add_column(t("waar", "where"))
        table.add_column(t("waarom", "why"))
        for op in plan.changes:
            where = f"{op.platform}: {op.target} ({op.kind})" if op.action is Action.post else op.target
            reason = REASONS[LANG][op.reason]
            if op.action is Action.sibling:
                reason += f" ({op.origin})"
            table.add_row(styled(ACTION_LABEL[LANG][op.action]), where, reason)
        out.print(table)
        out.print()
        changes += len(plan.changes)
    return changes


# --- commands --------------------------------------------------------------------------------------


@app.command(
    help=t(
        "Maak een start-brug.toml en een voorbeeldsamenwerking in partnerschappen/.",
        "Write a starter brug.toml and an example partnership in partnerschappen/.",
    )
)
def init(
    folder: Annotated[Path, typer.Argument(help=t("Waar de bestanden komen.", "Where to write the files."))] = Path(
        "."
    ),
    force: Annotated[
        bool, typer.Option("--force", help=t("Overschrijf bestaande bestanden.", "Overwrite existing files."))
    ] = False,
) -> None:
    config = folder / CONFIG_NAME
    example = folder / "partnerschappen" / "voorbeeld.yaml"
    existing = [p for p in (config, example) if p.exists()]
    if existing and not force:
        err.print(
            t(
                f"Bestaat al: {', '.join(map(display_path, existing))}. Gebruik --force om te overschrijven.",
                f"Already exists: {', '.join(map(display_path, existing))}. Use --force to overwrite.",
            )
        )
        raise typer.Exit(1)
    example.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(STARTER_CONFIG, encoding="utf-8")
    shutil.copyfile(data_dir("workflows") / "starter-partnership.yaml", example)
    out.print(
        t(
            f"Geschreven: {display_path(config)} en {display_path(example)}.\n"
            f"Pas het voorbeeld aan en voer dan uit: brug validate, brug plan, brug apply.",
            f"Written: {display_path(config)} and {display_path(example)}.\n"
            f"Edit the example, then run: brug validate, brug plan, brug apply.",
        )
    )


@app.command(
    help=t(
        "Controleer partnerschapsbestanden: elke fout op één regel, met bestand, regel, veld en wat er verwacht"
        " wordt. Eindigt met code 1 bij fouten.",
        "Check partnership files: one line per problem, with file, line, field and what is expected. Exits with"
        " code 1 on problems.",
    )
)
def validate(paths: PathsArg = None) -> None:
    s = settings()
    lib = library(s)
    targets = paths or s.partnerships
    loaded, problems = load_partnerships(targets, lib, LANG)
    for item in loaded:
        p = item.partnership
        model = lib.phase_models[p.workflow]
        out.print(
            t(
                f"✓ {display_path(item.path)}: {p.name} — {len(p.organisations)} organisaties, "
                f"{len(p.members)} leden, fase {model.index(p.phase) + 1}/{len(model.phases)} "
                f"({model.phase(p.phase).title.nl})",
                f"✓ {display_path(item.path)}: {p.name} — {len(p.organisations)} organisations, "
                f"{len(p.members)} members, phase {model.index(p.phase) + 1}/{len(model.phases)} "
                f"({model.phase(p.phase).title.en})",
            )
        )
    if problems:
        fail(problems)
    if not loaded:
        err.print(t("Geen partnerschapsbestanden gevonden.", "No partnership files found."))
        raise typer.Exit(1)


@app.command(
    help=t(
        "Toon wat 'apply' zou veranderen, zonder iets te veranderen.",
        "Show what 'apply' would change, without changing anything.",
    )
)
def plan(
    paths: PathsArg = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help=t(
                "Eindig met code 2 als er iets te doen is (handig in scripts).",
                "Exit with code 2 when there is something to do (useful in scripts).",
            ),
        ),
    ] = False,
) -> None:
    s = settings()
    lib = library(s)
    loaded = partnerships(s, lib, paths)
    rt = runtime(s, lib)
    plans = asyncio.run(make_plans(loaded, rt))
    changes = print_plan(plans)
    if changes == 0:
        out.print(t("Niets te doen: alle werkruimtes zijn bij.", "Nothing to do: every workspace is up to date."))
    else:
        out.print(
            t(
                f"{changes} wijziging(en). Voer 'brug apply' uit om ze door te voeren.",
                f"{changes} change(s). Run 'brug apply' to carry them out.",
            )
        )
        if detailed_exitcode:
            raise typer.Exit(2)


@app.command(
    help=t(
        "Maak of werk de werkruimtes bij. Een tweede keer verandert niets; wat iemand aanpaste, wordt nooit "
        "overschreven (een nieuwe versie komt ernaast); er wordt niets verwijderd.",
        "Create or update the workspaces. Running it again changes nothing; what people edited is never "
        "overwritten (a new version goes beside it); nothing is deleted.",
    )
)
def apply(
    paths: PathsArg = None,
    remove_members: Annotated[
        bool,
        typer.Option(
            "--remove-members",
            help=t(
                "Haal mensen die niet meer in het bestand staan uit de chatkamers. Zonder deze optie blijft "
                "iedereen, en zegt brug wie er niet meer in het bestand staat.",
                "Remove people who are no longer in the file from the chat rooms. Without it everyone stays, "
                "and brug says who is no longer in the file.",
            ),
        ),
    ] = False,
) -> None:
    s = settings()
    lib = library(s)
    loaded = partnerships(s, lib, paths)
    rt = runtime(s, lib, remove_members=remove_members)
    report = ApplyReport()

    async def run() -> tuple[list[PartnershipPlan], list[str]]:
        with Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task(t("werkruimtes bijwerken", "updating workspaces"), total=len(loaded))
            shown = ApplyProgress(progress, task)
            rt.progress.show(shown)
            try:
                return await apply_partnerships(loaded, rt, report, on_done=shown.advance, stop=stop_on_signals(stop))
            finally:
                rt.progress.show(None)
                await rt.close()

    stop = asyncio.Event()
    with single_instance(s):
        plans, errors = asyncio.run(run())
    print_plan(plans)
    if stop.is_set():
        err.print(
            t(
                "Onderbroken na de lopende stap: wat klaar was, is bewaard; de volgende 'brug apply' gaat verder.",
                "Interrupted after the step in hand: what was done is kept; the next 'brug apply' continues.",
            )
        )
    for where in report.siblings:
        out.print(
            styled(
                t(
                    "[magenta]![/] Iemand paste een document aan; de nieuwe versie staat ernaast: {}",
                    "[magenta]![/] Someone edited a document; the new version is beside it: {}",
                ),
                where,
            )
        )
    for line in report.chat:
        out.print(styled("[cyan]·[/] {}", line))
    for line in report.failed_invites:
        out.print(
            styled(
                t(
                    "[yellow]![/] Uitnodiging mislukt (volgende keer opnieuw): {}",
                    "[yellow]![/] Invite failed (tried again next time): {}",
                ),
                line,
            )
        )
    changed = sum(1 for p in plans if p.changes)
    out.print(
        t(
            f"Klaar: {len(plans)} samenwerking(en), {changed} bijgewerkt, {report.written} document(en) "
            f"geschreven, {report.posts} bericht(en) gepost. Werkruimte: {display_path(s.workspace)}",
            f"Done: {len(plans)} partnership(s), {changed} updated, {report.written} document(s) written, "
            f"{report.posts} message(s) posted. Workspace: {display_path(s.workspace)}",
        )
    )
    if errors:
        for line in errors:
            err.print(f"✗ {line}")
        raise typer.Exit(1)
    if stop.is_set():
        raise typer.Exit(130)


@app.command(
    help=t(
        "Toon per samenwerking de fase, het volgende overleg, wanneer ze laatst werd toegepast en of er iets te"
        " doen is.",
        "Show for each partnership its phase, next meeting, when it was last applied and whether anything is pending.",
    )
)
def status(
    paths: PathsArg = None,
    instances: Annotated[
        bool,
        typer.Option(
            "--instances",
            help=t(
                "Toon de draaiende instanties van 'brug run' (host, proces, laatste teken van leven) en wie welke "
                "samenwerkingen en luisteraars (Matrix, Talk) in huur heeft. Alleen met PostgreSQL.",
                "Show the running instances of 'brug run' (host, process, last sign of life) and who holds which "
                "partnerships and listeners (Matrix, Talk). PostgreSQL only.",
            ),
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help=t("Met --instances: ook elke samenwerking per instantie.", "With --instances: each partnership too."),
        ),
    ] = False,
) -> None:
    s = settings()
    if instances:
        show_instances(s, verbose)
        return
    lib = library(s)
    loaded = partnerships(s, lib, paths)
    rt = runtime(s, lib)
    plans = asyncio.run(make_plans(loaded, rt))
    for plan in plans:
        p = plan.partnership
        model = lib.phase_models[p.workflow]
        nxt = p.meeting_times(clock(), 1)
        applied = rt.store.applied(p.id)
        rows = [
            (t("fase", "phase"), f"{model.index(p.phase) + 1}/{len(model.phases)} {model.phase(p.phase).title(LANG)}"),
            (t("volgend overleg", "next meeting"), format_local(nxt[0], p.zone, LANG) if nxt else "—"),
            (
                t("laatst toegepast", "last applied"),
                format_local(applied.applied_at, p.zone, LANG)
                if applied and applied.applied_at
                else t("nog nooit", "never"),
            ),
            (
                t("te doen", "pending"),
                t(f"{len(plan.changes)} wijziging(en)", f"{len(plan.changes)} change(s)") if plan.changes else "—",
            ),
        ]
        rows.append((t("akkoord", "agreement"), agreement_line(p, rt)))
        parked = rt.store.parked_posts(p.id)
        if parked:
            rows.append(
                (
                    t("geparkeerde berichten", "parked posts"),
                    t(
                        f"{len(parked)} (na {parked[0]['attempts']} mislukte pogingen niet meer geprobeerd)",
                        f"{len(parked)} (no longer tried after {parked[0]['attempts']} failed attempts)",
                    ),
                )
            )
        failed = rt.store.event_failures(p.id)
        if failed:
            rows.append(
                (
                    t("chatberichten met een fout", "chat messages that failed"),
                    t(f"{len(failed)} (in de chat gemeld)", f"{len(failed)} (reported in the chat)"),
                )
            )
        trend = barometer.trend(p, rt, LANG)
        if trend:
            rows.append((t("barometer", "barometer"), trend))
        out.print(styled("[bold]{}[/] [dim]({})[/]", p.name, p.id))
        for label, value in rows:
            out.print(f"  {label}: {value}")
        for post in parked:
            out.print(
                styled("    [red]✗[/] {} {} {}: {}", post["platform"], post["kind"], post["key"], post["last_error"])
            )


def show_instances(s: Settings, verbose: bool) -> None:
    """`brug status --instances`: who runs, who holds what, what waits for a new holder."""
    if not is_database_url(s.state):
        out.print(
            t(
                f"brug bewaart zijn geheugen in {display_state(s.state)} (SQLite): daar draait één 'brug run', "
                "die alles doet. Meerdere instanties delen het werk alleen op PostgreSQL.",
                f"brug keeps its memory in {display_state(s.state)} (SQLite): one 'brug run' runs there and does "
                "everything. Several instances share the work only on PostgreSQL.",
            )
        )
        return
    from brug.app.leases import LISTENER, overview

    store = Store.open(s.state)
    try:
        rows, leases = overview(store.engine)
    finally:
        store.close()
    ttl = s.instances.lease_seconds
    live = [r for r in rows if r.heartbeat_age < ttl]
    out.print(
        styled(
            "[bold]{}[/]",
            t(
                f"{len(live)} instantie(s) actief (een huur duurt {ttl:.0f} s, vernieuwd om de "
                f"{s.instances.renew_seconds:.0f} s)",
                f"{len(live)} instance(s) alive (a lease lasts {ttl:.0f} s, renewed every "
                f"{s.instances.renew_seconds:.0f} s)",
            ),
        )
    )
    for r in rows:
        alive = r.heartbeat_age < ttl
        listening = ", ".join(n.removeprefix(LISTENER) for n in r.listeners)
        line = t(
            f"  {r.id}  {r.host}  proces {r.pid}  teken van leven {r.heartbeat_age:.0f} s geleden  "
            f"{len(r.partnerships)} samenwerking(en)",
            f"  {r.id}  {r.host}  process {r.pid}  heartbeat {r.heartbeat_age:.0f} s ago  "
            f"{len(r.partnerships)} partnership(s)",
        )
        if listening:
            line += t(f"  luistert: {listening}", f"  listens: {listening}")
        if not alive:
            line += t("  (geen teken van leven: wordt overgenomen)", "  (no sign of life: being taken over)")
        out.print(line)
        if verbose and r.partnerships:
            out.print("    " + ", ".join(r.partnerships))
    partnership_leases = [lease for lease in leases if not lease[0].startswith(LISTENER)]
    waiting = [name for name, owner, left in partnership_leases if not owner or left is None or left <= 0]
    out.print(
        t(
            f"samenwerkingen: {len(partnership_leases) - len(waiting)} in huur, {len(waiting)} vrij of verlopen",
            f"partnerships: {len(partnership_leases) - len(waiting)} held, {len(waiting)} free or expired",
        )
    )
    if verbose and waiting:
        out.print("    " + ", ".join(waiting))
    by_id = {r.id: r for r in rows}
    for name, owner, left in [lease for lease in leases if lease[0].startswith(LISTENER)]:
        holder = by_id.get(owner or "")
        where = (
            f"{holder.id} ({holder.host}, {t('proces', 'process')} {holder.pid})"
            if holder is not None and left is not None and left > 0
            else t("niemand (wordt gekozen)", "nobody (being elected)")
        )
        platform = name.removeprefix(LISTENER)
        out.print(t(f"luisteraar {platform}: {where}", f"listener {platform}: {where}"))


@app.command(
    "barometer",
    help=t(
        "Toon de barometer van één samenwerking: per afgesloten ronde het aantal antwoorden en het gemiddelde "
        "per bouwsteen (alleen wat niemand herkenbaar maakt: minstens 3 antwoorden). Met --svg schrijft brug "
        "de radar van de laatste ronde weg.",
        "Show one partnership's barometer: for each closed round the number of answers and the mean per "
        "bouwsteen (only what identifies nobody: at least 3 answers). With --svg brug writes the radar of the "
        "last round.",
    ),
)
def barometer_command(
    partnership_id: Annotated[str, typer.Argument(metavar="ID", help=t("De id van de samenwerking.", "The id."))],
    svg: Annotated[
        Path | None,
        typer.Option(
            "--svg", help=t("Schrijf de radar (SVG) naar dit bestand.", "Write the radar (SVG) to this file.")
        ),
    ] = None,
) -> None:
    s = settings()
    lib = library(s)
    loaded = {item.partnership.id: item.partnership for item in partnerships(s, lib, None)}
    p = loaded.get(partnership_id)
    if p is None:
        err.print(t(f"Geen samenwerking '{partnership_id}'.", f"No partnership '{partnership_id}'."))
        raise typer.Exit(1)
    rt = runtime(s, lib)
    header, rows = barometer.table(p, rt, LANG)
    if rows:
        grid = Table(*header, title=f"{p.name} — barometer")
        for row in rows:
            grid.add_row(*row)
        out.print(grid)
    else:
        out.print(t("Nog geen afgesloten barometerronde.", "No closed barometer round yet."))
    current = barometer.current_round(p, rt)
    if current is not None:
        record = rt.store.barometer_round(p.id, current)
        if record is not None and record.status == "open":
            out.print(
                t(
                    f"Lopende ronde {barometer.round_label(current, 'nl')}: {rt.store.respondents(p.id, current)} "
                    f"van minstens {record.min_respondents} antwoorden.",
                    f"Current round {barometer.round_label(current, 'en')}: {rt.store.respondents(p.id, current)} "
                    f"of at least {record.min_respondents} answers.",
                )
            )
    if svg is not None:
        picture = barometer.latest_svg(p, rt)
        if picture is None:
            err.print(
                t(
                    "Er is nog geen ronde met genoeg antwoorden om te tekenen.",
                    "No round with enough answers to draw yet.",
                )
            )
            raise typer.Exit(1)
        svg.write_text(picture, encoding="utf-8")
        out.print(t(f"Radar geschreven: {display_path(svg)}", f"Radar written: {display_path(svg)}"))


@app.command(
    help=t(
        "Draai brug als dienst: werk de werkruimtes bij bij de start en daarna om de zoveel minuten, post "
        "de agenda voor elk overleg en de reflectievragen op hun ritme (ook na een onderbreking: wat minder "
        "dan 12 uur te laat is, komt alsnog; ouder wordt overgeslagen en in de volgende agenda vermeld), en "
        "beantwoord chatcommando's. Stopt netjes met Ctrl-C of SIGTERM (een bericht dat vertrekt, vertrekt nog). "
        "Met 'state' op PostgreSQL mogen meerdere 'brug run' naast elkaar draaien: ze verdelen de samenwerkingen "
        "(huur per samenwerking, sectie instances in brug.toml) en nemen het werk over van een instantie die stopt of "
        "sterft; 'brug status --instances' toont wie wat doet. Met een SQLite-bestand draait er één. Met een sectie "
        "web of metrics in brug.toml, of --port, serveert brug ook /healthz, /readyz en /metrics (Prometheus); "
        "BRUG_LOG_FORMAT=json geeft logs als JSON-regels.",
        "Run brug as a service: update the workspaces at start and every so many minutes, post the agenda "
        "before each meeting and the reflection prompts on their rhythm (also after downtime: less than 12 "
        "hours late is still posted; older is skipped and named in the next agenda), and answer chat "
        "commands. Stops cleanly on Ctrl-C or SIGTERM (a message being sent is still sent). With 'state' on "
        "PostgreSQL several 'brug run' may run side by side: they divide the partnerships (a lease per "
        "partnership, section instances in brug.toml) and take over the work of an instance that stops or dies; "
        "'brug status --instances' shows who does what. With a SQLite file one runs. With a web or metrics "
        "section in brug.toml, or --port, it also serves /healthz, /readyz and /metrics (Prometheus); "
        "BRUG_LOG_FORMAT=json logs JSON lines.",
    )
)
def run(
    reconcile_every: Annotated[
        int | None,
        typer.Option(
            "--reconcile-every",
            min=1,
            help=t(
                "Minuten tussen twee keer bijwerken (standaard schedule.reconcile_minutes uit brug.toml, 15).",
                "Minutes between two reconciliations (default schedule.reconcile_minutes in brug.toml, 15).",
            ),
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help=t(
                "Luister op dit adres voor /healthz, /readyz en /metrics (en de webpagina met een sectie web); "
                "standaard web.host of metrics.host, anders 127.0.0.1.",
                "Listen on this address for /healthz, /readyz and /metrics (and the web page with a web section); "
                "default web.host or metrics.host, else 127.0.0.1.",
            ),
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help=t(
                "Serveer /healthz, /readyz en /metrics op deze poort (en de webpagina met een sectie web). Standaard "
                "web.port, anders metrics.port; zonder die secties en zonder --port luistert brug run niet.",
                "Serve /healthz, /readyz and /metrics on this port (and the web page with a web section). Default "
                "web.port, else metrics.port; without those sections and without --port brug run does not listen.",
            ),
        ),
    ] = None,
) -> None:
    s = settings()
    lib = library(s)
    loaded = partnerships(s, lib, None)  # refuse to start on broken files
    bot = Bot(runtime(s, lib), s.partnerships, LANG)
    bot.load((loaded, []))
    every = reconcile_every or s.schedule.reconcile_minutes
    grace = {
        AGENDA: timedelta(hours=s.schedule.grace_hours_agenda),
        REFLECTION: timedelta(hours=s.schedule.grace_hours_reflection),
    }
    scheduler = bot.scheduler(load_school_calendar(), grace)
    log = logging.getLogger("brug.run")
    listening = _listening(s, bot, host, port)
    leases = None
    if is_database_url(s.state):  # several instances may run: each works on the partnerships it leases
        leases = Coordinator(bot.rt.store.engine, ttl=s.instances.lease_seconds, renew=s.instances.renew_seconds)
        bot.use_leases(leases)
        metrics.count_leases_with(lambda: len(leases.held))  # /metrics: the partnerships held
    wake = asyncio.Event()  # partnerships taken over: the scheduler looks at their slots at once

    async def reconcile(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every * 60)
            if stop.is_set():
                return
            bot.load()  # files may have changed; a broken file keeps its last good version
            _, errors, _ = await bot.apply(stop=stop, keep_plans=False)
            for line in errors:
                log.error("%s", line)

    async def apply_taken(gained: set[str], wanted: set[str], stop: asyncio.Event) -> None:
        """What another instance asked for is applied now; what was taken over only when it is not fresh."""
        if wanted:
            await bot.apply(only=wanted, stop=stop, keep_plans=False)
        if gained - wanted:
            await bot.apply(
                only=gained - wanted, stop=stop, unless_applied_within=timedelta(minutes=every), keep_plans=False
            )

    def taken(result: TickResult, stop: asyncio.Event, background: set[asyncio.Task[None]]) -> None:
        """On the loop, after each renewal: wake the scheduler for what was taken over, and apply it (in
        the background) when it is not fresh; apply at once what another instance asked for."""
        if result.gained:
            wake.set()
        if (result.gained or result.wanted) and not stop.is_set():
            if result.wanted:
                bot.load()  # a chat command elsewhere changed a partnership file
            task = asyncio.create_task(apply_taken(set(result.gained), set(result.wanted), stop))
            background.add(task)
            task.add_done_callback(background.discard)

    async def main() -> None:
        stop = stop_on_signals(asyncio.Event())
        out.print(t("brug draait. Ctrl-C stopt.", "brug is running. Ctrl-C stops it."))
        renewer, background = None, set()
        try:
            if leases is not None:  # join, take a first share, and keep renewing it from now on
                await asyncio.to_thread(leases.register)
                await asyncio.to_thread(leases.tick, list(bot.loaded), bot.listener_names())
                loop = asyncio.get_running_loop()
                renewer = Renewer(
                    leases,
                    lambda: list(bot.loaded),
                    bot.listener_names(),
                    lambda result: loop.call_soon_threadsafe(taken, result, stop, background),
                )
                renewer.start()
            held = len(bot.held_partnerships())
            log.info("brug runs %d of %d partnership(s); reconciles every %d min", held, len(bot.loaded), every)
            # SIGTERM here ends it after the operation in hand; with several instances, what one of them applied
            # within the reconcile interval waits for this one's next reconcile (a restart redoes nothing)
            fresh = timedelta(minutes=every) if leases is not None else None
            _, errors, _ = await bot.apply(stop=stop, unless_applied_within=fresh, keep_plans=False)
            for line in errors:
                log.error("%s", line)
            if not stop.is_set():
                tasks = [
                    outliving_store_outages("reconciling", partial(reconcile, stop), stop),
                    bot.listen(stop),
                    outliving_store_outages(
                        "the schedule", partial(scheduler.run, stop, speed=state.speed, wake=wake), stop
                    ),
                ]
                if bound:
                    from brug.web.app import serve

                    tasks += [serve(app, at, number, stop, sockets) for app, at, number, sockets in bound]
                await asyncio.gather(*tasks)
        finally:
            stop.set()
            if renewer is not None:
                await asyncio.to_thread(renewer.stop)
            for task in list(background):  # an apply in hand ends after its operation
                with contextlib.suppress(Exception):
                    await task
            if leases is not None:
                with contextlib.suppress(DBAPIError):
                    await asyncio.to_thread(leases.release_all)
            await bot.rt.close()
        out.print(t("brug is gestopt.", "brug stopped."))

    with single_instance(s, running=True):
        # the ports first: a port another program holds is refused before anything starts; brug's own
        # instances on this host share theirs (SO_REUSEPORT)
        bound = [(app, at, number, _bind(s, at, number)) for app, at, number in listening]
        if leases is None:  # SQLite: this process holds the store (with leases, /metrics counts them)
            metrics.LEASES.set(1)
        try:
            asyncio.run(main())
        finally:
            metrics.LEASES.set(0)


def _bind(s: Settings, host: str, port: int) -> list[socket.socket]:
    """The listening sockets for host:port, shared with brug's other instances on this host
    (SO_REUSEPORT); a port another program holds is a clear problem naming the setting."""
    from brug.web.sockets import shared_sockets

    try:
        return shared_sockets(host, port)
    except OSError as err:
        section = "web" if s.web is not None and port == s.web.port else "metrics"
        reason = os_reason(err, LANG)
        fail(
            [
                Problem(
                    CONFIG_NAME,
                    (section, "port"),
                    t(
                        f"kan niet luisteren op {host}:{port}: {reason} (een ander programma gebruikt die poort; "
                        "instanties van brug onder dezelfde gebruiker delen ze wel)",
                        f"cannot listen on {host}:{port}: {reason} (another program uses that port; instances of "
                        "brug under the same user do share it)",
                    ),
                )
            ]
        )


def _listening(s: Settings, bot: Bot, host: str | None, port: int | None):  # type: ignore[no-untyped-def]
    """What `brug run` serves and where, as [(app, host, port)]: the web page with /healthz, /readyz and
    /metrics on web.port (--host/--port move it); those three alone on metrics.port, or on --port without
    [web]. With both sections on two ports, the second is an internal one for Prometheus."""
    served = []
    if s.web is not None:
        served.append((_web_app(s, bot), host or s.web.host, port or s.web.port))
    ops: tuple[str, int] | None = None
    if s.metrics is not None:
        ops = (s.metrics.host, s.metrics.port) if s.web else (host or s.metrics.host, port or s.metrics.port)
    elif s.web is None and port is not None:
        ops = (host or "127.0.0.1", port)
    if ops is not None and (not served or ops[1] != served[0][2]):
        try:
            from brug.web.health import health_app
        except ImportError as missing:
            fail(
                [
                    Problem(
                        CONFIG_NAME,
                        ("metrics",),
                        t(
                            f"/healthz en /metrics hebben brug[web] nodig (pip install 'brug[web]'): {missing}",
                            f"/healthz and /metrics need brug[web] (pip install 'brug[web]'): {missing}",
                        ),
                    )
                ]
            )
        served.append((health_app(bot.rt), *ops))
    return served


def _web_app(s: Settings, bot: Bot):  # type: ignore[no-untyped-def]
    """The answer page on the bot's runtime and partnerships; a clear problem when [web] lacks a part."""
    try:
        from brug.web.app import create_app
    except ImportError as missing:
        fail(
            [
                Problem(
                    CONFIG_NAME,
                    ("web",),
                    t(
                        f"de webpagina heeft brug[web] nodig (pip install 'brug[web]'): {missing}",
                        f"the web page needs brug[web] (pip install 'brug[web]'): {missing}",
                    ),
                )
            ]
        )
    from brug.web.nextcloud_login import nextcloud_login_from

    assert s.web is not None and bot.rt.links is not None
    try:
        nextcloud_login = nextcloud_login_from(s, LANG)
    except ProblemsFound as found:
        fail(found.problems)
    return create_app(
        bot.rt,
        bot.partnerships,
        bot.rt.links,
        per_ip=s.web.per_ip_per_minute,
        per_link=s.web.per_link_per_minute,
        viewers=_current_viewers(s),
        nextcloud_login=nextcloud_login,
    )


def _current_viewers(s: Settings):  # type: ignore[no-untyped-def]
    """The coordinators' viewers as brug.toml names them now: a viewer taken out is out at once."""
    from brug.web.app import viewers_from

    path = state.config or Path(CONFIG_NAME)
    cache: dict[str, object] = {"mtime": None, "viewers": viewers_from(s.web.coordinators if s.web else [])}

    def current():  # type: ignore[no-untyped-def]
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return cache["viewers"]
        if mtime != cache["mtime"]:
            try:
                fresh = load_settings(state.config, LANG)
            except ProblemsFound:  # a broken brug.toml keeps the last good list
                return cache["viewers"]
            cache.update(mtime=mtime, viewers=viewers_from(fresh.web.coordinators if fresh.web else []))
        return cache["viewers"]

    return current


@app.command(
    help=t(
        "Serveer de webpagina waar leden zonder chataccount antwoorden via hun persoonlijke link "
        "(<base_url>/a/<token>), en /healthz, /readyz en /metrics. Nodig: de sectie web in brug.toml met base_url, en het geheim "
        "in BRUG_WEB__SECRET. 'brug run' serveert dezelfde pagina zelf wanneer die sectie er staat.",
        "Serve the web page where members without a chat account answer by their personal link "
        "(<base_url>/a/<token>), and /healthz, /readyz and /metrics. Needs the web section in brug.toml with base_url, and the secret "
        "in BRUG_WEB__SECRET. 'brug run' serves the same page itself when that section is there.",
    )
)
def web(
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help=t("Luister op dit adres (standaard web.host).", "Listen on this address (default web.host).")
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help=t("Luister op deze poort (standaard web.port).", "Listen on this port (default web.port)."),
        ),
    ] = None,
) -> None:
    s = settings()
    if s.web is None:
        fail(
            [
                Problem(
                    CONFIG_NAME,
                    ("web",),
                    t(
                        "voeg een sectie [web] toe met base_url (het adres dat mensen openen)",
                        "add a [web] section with base_url (the address people open)",
                    ),
                )
            ]
        )
    lib = library(s)
    loaded = partnerships(s, lib, None)
    bot = Bot(runtime(s, lib), s.partnerships, LANG)
    bot.load((loaded, []))
    page = _web_app(s, bot)
    where_host, where_port = host or s.web.host, port or s.web.port
    every = s.schedule.reconcile_minutes

    async def main() -> None:
        from brug.web.app import serve

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def reload() -> None:  # the partnership files may change: a member added or gone
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=every * 60)
                bot.load()

        out.print(
            t(
                f"De webpagina draait op http://{where_host}:{where_port} (links: {s.web.base_url}/a/…). Ctrl-C stopt.",
                f"The web page runs on http://{where_host}:{where_port} (links: {s.web.base_url}/a/…). Ctrl-C stops it.",
            )
        )
        try:
            await asyncio.gather(serve(page, where_host, where_port, stop, sockets), reload())
        finally:
            await bot.rt.close()

    sockets = _bind(s, where_host, where_port)
    asyncio.run(main())


@app.command(
    help=t(
        "Vergeet alles wat brug over één samenwerking bijhoudt (agenda's, acties, antwoorden, signalen, berichten). "
        "Documenten in de werkruimte en chatkamers blijven staan.",
        "Forget everything brug keeps about one partnership (agendas, actions, answers, signals, posts). Documents "
        "in the workspace and chat rooms stay.",
    )
)
def forget(
    partnership_id: Annotated[str, typer.Argument(metavar="ID", help=t("De id van de samenwerking.", "The id."))],
    yes: Annotated[bool, typer.Option("--yes", "-y", help=t("Niet bevestigen.", "Do not ask."))] = False,
) -> None:
    s = settings()
    store = Store.open(s.state)
    if store.applied(partnership_id) is None and not store.actions(partnership_id):
        err.print(
            t(f"brug kent geen samenwerking '{partnership_id}'.", f"brug knows no partnership '{partnership_id}'.")
        )
        raise typer.Exit(1)
    if not yes and not typer.confirm(t(f"Alles over '{partnership_id}' vergeten?", f"Forget '{partnership_id}'?")):
        raise typer.Exit(1)
    store.forget(partnership_id)
    out.print(t(f"brug is '{partnership_id}' vergeten.", f"brug forgot '{partnership_id}'."))


outbox_app = typer.Typer(
    name="outbox",
    help=t(
        "Wat brug post en nog niet kon posten. Een bericht dat vijf keer mislukt, wordt geparkeerd: het "
        "schema gaat verder en 'brug status' noemt het met zijn laatste fout.",
        "What brug posts and could not post yet. A post that fails five times is parked: the schedule goes "
        "on and 'brug status' names it with its last error.",
    ),
    no_args_is_help=True,
)
app.add_typer(outbox_app)


@outbox_app.command(
    "retry",
    help=t(
        "Zet de geparkeerde berichten van een samenwerking terug in de rij en post ze nu. Los eerst op wat "
        "'brug status' als fout noemt (bv. brug uit de kamer gezet, een verkeerde kamer). Elk bericht gaat "
        "hoogstens één keer uit: brug zoekt het eerst op het platform op aan zijn sleutel. Mislukt het "
        "opnieuw, dan blijft het in de rij en wordt het na vijf nieuwe pogingen weer geparkeerd. Peilingen "
        "horen bij hun reflectievraag en worden niet apart opnieuw gepost. Stop eerst 'brug run'.\n\n"
        "Voorbeelden: brug outbox retry cbe-armoede   ·   brug outbox retry cbe-armoede --key cbe-armoede/agenda/2026-12-01",
        "Put a partnership's parked posts back in line and post them now. First fix what 'brug status' names "
        "as the error (e.g. brug was removed from the room, a wrong room). Each post goes out at most once: "
        "brug first looks for it on the platform by its key. When it fails again it stays in line and is "
        "parked again after five new attempts. Polls belong to their reflection prompt and are not posted "
        "again on their own. Stop 'brug run' first.\n\n"
        "Examples: brug outbox retry cbe-armoede   ·   brug outbox retry cbe-armoede --key cbe-armoede/agenda/2026-12-01",
    ),
)
def outbox_retry(
    partnership_id: Annotated[
        str, typer.Argument(metavar="ID", help=t("De id van de samenwerking.", "The partnership's id."))
    ],
    keys: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="KEY",
            help=t(
                "Alleen het bericht met deze sleutel (zoals 'brug status' ze toont); mag meermaals.",
                "Only the post with this key (as 'brug status' shows them); may be given more than once.",
            ),
        ),
    ] = None,
) -> None:
    from brug.app.jobs import RetryReport, retry_parked

    s = settings()
    lib = library(s)
    rt = runtime(s, lib)
    parked = rt.store.parked_posts(partnership_id)
    unknown = sorted(set(keys or ()) - {r["key"] for r in parked})
    if unknown:
        err.print(
            "✗ "
            + t(
                f"geen geparkeerd bericht van '{partnership_id}' met sleutel: {', '.join(unknown)}. "
                "'brug status' toont de geparkeerde berichten.",
                f"no parked post of '{partnership_id}' with key: {', '.join(unknown)}. "
                "'brug status' shows the parked posts.",
            )
        )
        raise typer.Exit(1)
    if not parked:
        out.print(t(f"'{partnership_id}' heeft geen geparkeerde berichten.", f"'{partnership_id}' has no parked posts."))
        return

    async def go() -> RetryReport:
        try:
            return await retry_parked(rt, partnership_id, keys or None)
        finally:
            await rt.close()

    with single_instance(s):
        report = asyncio.run(go())
    for line in report.sent:
        out.print(styled("[green]✓[/] {}", line))
    for line in report.kept:
        out.print(styled(t("[yellow]![/] blijft geparkeerd: {}", "[yellow]![/] stays parked: {}"), line))
    for line in report.failed:
        err.print(styled(t("[red]✗[/] opnieuw mislukt: {}", "[red]✗[/] failed again: {}"), line))
    out.print(
        t(
            f"{len(report.sent)} bericht(en) gepost, {len(report.failed)} opnieuw mislukt, "
            f"{len(report.kept)} geparkeerd gebleven.",
            f"{len(report.sent)} post(s) sent, {len(report.failed)} failed again, {len(report.kept)} left parked.",
        )
    )
    if report.failed:
        raise typer.Exit(1)


store_app = typer.Typer(
    name="store",
    help=t(
        "brugs geheugen (de staat-databank: SQLite of PostgreSQL) beheren.",
        "Manage brug's memory (the state database: SQLite or PostgreSQL).",
    ),
    no_args_is_help=True,
)
app.add_typer(store_app)


@store_app.command(
    "copy",
    help=t(
        "Kopieer brugs geheugen naar een andere, lege databank, bv. van het SQLite-bestand naar PostgreSQL. "
        "Stop 'brug run' eerst; zet daarna 'state' in brug.toml op de nieuwe databank.\n\n"
        "Voorbeeld: brug store copy --to postgresql://brug@db.example.org/brug",
        "Copy brug's memory into another, empty database, e.g. from the SQLite file to PostgreSQL. "
        "Stop 'brug run' first; then point 'state' in brug.toml at the new database.\n\n"
        "Example: brug store copy --to postgresql://brug@db.example.org/brug",
    ),
)
def store_copy(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL",
            help=t(
                "De doeldatabank: postgresql://gebruiker@host/databank (of een pad voor een SQLite-bestand).",
                "The target database: postgresql://user@host/database (or a path for a SQLite file).",
            ),
        ),
    ],
) -> None:
    from brug.store.copy import TargetNotEmpty, copy_store, row_counts

    s = settings()
    target: Path | str = to if is_database_url(to) else Path(to).resolve()
    source_shown, target_shown = display_state(s.state), display_state(target)
    if isinstance(s.state, Path) and not s.state.exists():
        fail([Problem(CONFIG_NAME, ("state",), t(f"{source_shown} bestaat niet", f"{source_shown} does not exist"))])
    if str(target) == str(s.state):
        err.print("✗ " + t("--to is dezelfde databank als 'state'.", "--to is the same database as 'state'."))
        raise typer.Exit(2)
    with single_instance(s):
        source = Store.open(s.state)
        try:
            destination = Store.open(target)
        except DBAPIError as problem:
            reason = database_reason(problem)
            err.print("✗ " + t(f"kan {target_shown} niet gebruiken: ", f"cannot use {target_shown}: ") + reason)
            raise typer.Exit(1) from None
        try:
            with instance_lock(target), err.status(t("kopiëren …", "copying …")) as busy:
                counts = copy_store(
                    source, destination, lambda table, n: busy.update(f"{t('kopiëren', 'copying')}: {table} {n}")
                )
        except TargetNotEmpty as full:
            err.print(
                "✗ "
                + t(
                    f"{target_shown} is niet leeg (de tabel {full.table} heeft rijen): brug kopieert alleen naar "
                    "een lege databank en heeft niets veranderd.",
                    f"{target_shown} is not empty (table {full.table} has rows): brug copies only into an empty "
                    "database and changed nothing.",
                )
            )
            raise typer.Exit(1) from None
        except AlreadyRunning:
            err.print("✗ " + t(f"er werkt een brug met {target_shown}.", f"a brug is working with {target_shown}."))
            raise typer.Exit(1) from None
        finally:
            source.close()
        if row_counts(destination) != counts:  # read back after the commit: what is there is what was copied
            err.print("✗ " + t("de kopie telt niet evenveel rijen.", "the copy does not have the same rows."))
            raise typer.Exit(1)
        destination.close()
    total = sum(counts.values())
    out.print(
        t(
            f"{total} rijen uit {len([n for n in counts if counts[n]])} tabellen gekopieerd van {source_shown} "
            f"naar {target_shown}. Zet nu state = \"{target_shown}\" in brug.toml (of BRUG_STATE).",
            f"Copied {total} rows from {len([n for n in counts if counts[n]])} tables from {source_shown} "
            f"to {target_shown}. Now set state = \"{target_shown}\" in brug.toml (or BRUG_STATE).",
        ),
        highlight=False,
    )


@app.command(
    help=t(
        "Schrijf de agenda's, acties, antwoorden, signalen en de geschiedenis van het akkoord van één "
        "samenwerking weg als Markdown en CSV.",
        "Write one partnership's agendas, actions, answers, signals and agreement history as Markdown and CSV.",
    )
)
def export(
    partnership_id: Annotated[str, typer.Argument(metavar="ID", help=t("De id van de samenwerking.", "The id."))],
    to: Annotated[Path, typer.Option("--to", help=t("Doelmap.", "Target folder."))] = Path("export"),
) -> None:
    s = settings()
    lib = library(s)
    rt = runtime(s, lib)
    if rt.store.applied(partnership_id) is None:
        err.print(
            t(f"brug kent geen samenwerking '{partnership_id}'.", f"brug knows no partnership '{partnership_id}'.")
        )
        raise typer.Exit(1)
    if to.exists() and not to.is_dir():
        err.print(
            "✗ "
            + t(
                f"{display_path(to)} is een bestand; geef met --to een map (bestaand of nieuw).",
                f"{display_path(to)} is a file; give --to a folder (existing or new).",
            )
        )
        raise typer.Exit(1)
    loaded = {item.partnership.id: item.partnership for item in load_partnerships(s.partnerships, lib, LANG)[0]}
    try:
        written = asyncio.run(export_partnership(partnership_id, loaded.get(partnership_id), rt, to))
    except OSError as problem:
        where = display_path(Path(problem.filename)) if problem.filename else display_path(to)
        reason = os_reason(problem, LANG)
        err.print("✗ " + t(f"kan niet schrijven in {where}: {reason}", f"cannot write to {where}: {reason}"))
        raise typer.Exit(1) from None
    for path in written:
        out.print(f"  {display_path(path)}")
    out.print(
        t(
            f"{len(written)} bestand(en) geschreven in {display_path(to)}.",
            f"{len(written)} file(s) written to {display_path(to)}.",
        )
    )


def agreement_line(p: Partnership, rt: Runtime) -> str:
    """One line for `brug status`: where the agreement stands and when it is reviewed."""
    state = agreement_state(p, rt, clock())
    s = state.status
    if s.current is None:
        return t("nog geen versie", "no version yet")
    line = {
        "signed": t(f"ondertekend (versie {s.signed_version})", f"signed (version {s.signed_version})"),
        "changed": t(
            f"gewijzigd na ondertekening: versie {s.current.number}, {len(s.open_organisations)} organisatie(s) open",
            f"changed after signing: version {s.current.number}, {len(s.open_organisations)} organisation(s) open",
        ),
        "draft": t(
            f"ontwerp, versie {s.current.number}: {len(s.open_organisations)} organisatie(s) moeten nog goedkeuren",
            f"draft, version {s.current.number}: {len(s.open_organisations)} organisation(s) still to approve",
        ),
    }.get(s.overall.value, "—")
    if state.review is not None:
        line += t(f"; herziening {state.review.isoformat()}", f"; review {state.review.isoformat()}")
    return line


@app.command(
    help=t(
        "Toon de versies van het akkoord van één samenwerking, wie welke versie goedkeurde, en met --diff A B "
        "wat er tussen twee versies veranderde. brug ziet een nieuwe versie bij elke apply en in 'brug run'.",
        "Show the versions of one partnership's agreement, who approved which version, and with --diff A B "
        "what changed between two versions. brug notices a new version at every apply and in 'brug run'.",
    )
)
def akkoord(
    partnership_id: Annotated[str, typer.Argument(metavar="ID", help=t("De id van de samenwerking.", "The id."))],
    diff: Annotated[
        tuple[int, int] | None,
        typer.Option(
            "--diff", metavar="A B", help=t("Toon de wijzigingen van versie A naar B.", "Show changes from A to B.")
        ),
    ] = None,
) -> None:
    from rich.text import Text

    from brug.app import agreements

    s = settings()
    lib = library(s)
    store = Store.open(s.state)
    stored = store.agreement_versions(partnership_id)
    if not stored:
        err.print(
            t(
                f"brug kent nog geen versie van het akkoord van '{partnership_id}' (voer eerst 'brug apply' uit).",
                f"brug knows no version of the agreement of '{partnership_id}' yet (run 'brug apply' first).",
            ),
            markup=False,
        )
        raise typer.Exit(1)
    by_number = {v.number: v for v in stored}
    if diff is not None:
        missing = [n for n in diff if n not in by_number]
        if missing:
            err.print(
                t(
                    f"Versie {missing[0]} bestaat niet; er zijn versies 1 tot {len(stored)}.",
                    f"Version {missing[0]} does not exist; there are versions 1 to {len(stored)}.",
                )
            )
            raise typer.Exit(1)
        a, b = (by_number[n] for n in diff)
        from brug.domain.agreement import changed_sections, readable_diff

        label = t("versie", "version")
        sections = changed_sections(a.content, b.content)
        out.print(Text(t("Gewijzigde onderdelen: ", "Sections changed: ") + (", ".join(sections) or "—")))
        for line in readable_diff(a.content, b.content, f"{label} {a.number}", f"{label} {b.number}").splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            style = "bold" if line.startswith(("+++", "---", "@@")) else style
            out.print(Text(line, style=style or ""), soft_wrap=True)
        return
    loaded = {item.partnership.id: item.partnership for item in load_partnerships(s.partnerships, lib, LANG)[0]}
    p = loaded.get(partnership_id)
    zone = p.zone if p else UTC
    table = Table(title=t(f"Akkoord van {partnership_id}", f"Agreement of {partnership_id}"))
    for heading in (
        t("versie", "version"),
        t("wanneer", "when"),
        t("door", "by"),
        "sha256",
        t("gewijzigde onderdelen", "sections changed"),
    ):
        table.add_column(heading)
    for v in stored:
        when = v.at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        changed = t("eerste versie", "first version") if v.number == 1 else ", ".join(v.sections) or "—"
        table.add_row(str(v.number), when, v.who or "?", v.sha256[:12], Text(changed))
    out.print(table)
    if p is not None:
        state = agreements.status(p, store)
        labels = {
            "signed": t("goedgekeurd", "approved"),
            "presented": t("voorgelegd", "presented"),
            "open": t("open", "open"),
            "no-decider": t("duidt nog aan wie mag beslissen", "still has to name who may decide"),
        }
        signoffs = Table(title=t("Goedkeuring per organisatie", "Approval per organisation"))
        for heading in (t("organisatie", "organisation"), t("stand", "state"), t("wie", "who"), t("versie", "version")):
            signoffs.add_column(heading)
        for o in state.organisations:
            shown = o.signed or o.presented
            what = labels[o.state] if o.must_sign else t("omkaderend", "supporting")
            signoffs.add_row(
                Text(o.name), what, Text(shown.member_name if shown else ""), str(shown.version) if shown else ""
            )
        out.print(signoffs)
        overall = {
            "signed": t(f"Ondertekend: versie {state.signed_version}.", f"Signed: version {state.signed_version}."),
            "changed": t(
                f"Gewijzigd na ondertekening (versie {state.last_signed} was goedgekeurd).",
                f"Changed after signing (version {state.last_signed} was approved).",
            ),
            "draft": t("Ontwerp: nog niet door iedereen goedgekeurd.", "Draft: not approved by everyone yet."),
            "none": "",
        }[state.overall.value]
        out.print(overall)


@app.command(
    help=t(
        "Schrijf een signalennota: de signalen van een periode per thema (wat partners zien, hoe vaak, sinds "
        "wanneer, wat al gebeurde, de vraag aan het beleid), als Markdown en als PDF met titelpagina en "
        "inhoudstafel. Voor één samenwerking, een lijst, alle (--all) of alle waarin een organisatie meedoet "
        "(--organisatie).\n\nVoorbeeld: brug signalen speelvogel-welzijn --from 2026-09-01 --to 2027-01-31",
        "Write a signals report (signalennota): a period's signals per theme (what partners see, how often, since "
        "when, what was done, the question to policy makers), as Markdown and as a PDF with a title page and a "
        "table of contents. For one partnership, a list, all of them (--all) or all an organisation takes part "
        "in (--organisatie).\n\nExample: brug signalen speelvogel-welzijn --from 2026-09-01 --to 2027-01-31",
    )
)
def signalen(
    ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ID",
            help=t("De id's van de samenwerkingen.", "The ids of the partnerships."),
            show_default=False,
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help=t("Alle samenwerkingen samen.", "All partnerships together."))
    ] = False,
    organisation: Annotated[
        str | None,
        typer.Option(
            "--organisatie",
            "--organisation",
            metavar="ORG-ID",
            help=t(
                "Alle samenwerkingen waarin deze organisatie (haar id in de bestanden) meedoet.",
                "All partnerships this organisation (its id in the files) takes part in.",
            ),
        ),
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            formats=["%Y-%m-%d"],
            metavar=t("JJJJ-MM-DD", "YYYY-MM-DD"),
            help=t(
                "Eerste dag (standaard 1 september van dit schooljaar).",
                "First day (default: 1 September of this school year).",
            ),
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(
            "--to",
            formats=["%Y-%m-%d"],
            metavar=t("JJJJ-MM-DD", "YYYY-MM-DD"),
            help=t("Laatste dag (standaard vandaag).", "Last day (default: today)."),
        ),
    ] = None,
    out_folder: Annotated[
        Path, typer.Option("--out", "-o", help=t("Map voor de nota.", "Folder for the report."))
    ] = Path("."),
) -> None:
    from brug.app.nota import NothingToReport, school_year_start, write_nota

    s = settings()
    lib = library(s)
    loaded = {item.partnership.id: item.partnership for item in partnerships(s, lib, None)}
    if all_:
        chosen = list(loaded)
    elif organisation:
        chosen = [pid for pid, p in loaded.items() if any(o.id == organisation for o in p.organisations)]
        if not chosen:
            err.print(
                t(
                    f"Geen samenwerking met een organisatie '{organisation}'.",
                    f"No partnership has an organisation '{organisation}'.",
                )
            )
            raise typer.Exit(1)
    else:
        chosen = list(dict.fromkeys(ids or []))
    unknown = [pid for pid in chosen if pid not in loaded]
    if not chosen or unknown:
        what = (
            t(f"onbekende samenwerking(en): {', '.join(unknown)}", f"unknown partnership(s): {', '.join(unknown)}")
            if unknown
            else t("geef een of meer id's, --all of --organisatie", "give one or more ids, --all or --organisatie")
        )
        err.print(f"✗ {what}. " + t("Bekend: ", "Known: ") + ", ".join(sorted(loaded)))
        raise typer.Exit(2 if not chosen else 1)
    today = clock().astimezone(loaded[chosen[0]].zone).date()
    first, last = (start.date() if start else school_year_start(today)), (end.date() if end else today)
    if first > last:
        err.print(t(f"✗ --from ({first}) ligt na --to ({last}).", f"✗ --from ({first}) is after --to ({last})."))
        raise typer.Exit(2)
    rt = runtime(s, lib)
    try:
        chosen_partnerships = [loaded[pid] for pid in chosen]
        files = write_nota(chosen_partnerships, rt.store, lib, rt.renderer, first, last, clock(), out_folder)
    except NothingToReport:
        err.print(
            t(
                f"Geen signalen tussen {first} en {last} in {', '.join(chosen)}: er is niets om door te geven.",
                f"No signals between {first} and {last} in {', '.join(chosen)}: nothing to pass on.",
            )
        )
        raise typer.Exit(1) from None
    finally:
        asyncio.run(rt.close())
    out.print(f"  {display_path(files.markdown)}\n  {display_path(files.pdf)}")
    out.print(
        t(
            f"Signalennota met {files.signals} signaal/signalen over {files.themes} thema('s).",
            f"Signals report with {files.signals} signal(s) on {files.themes} theme(s).",
        )
    )


STARTER_CONFIG = """\
# brug.toml — settings of this brug installation. Paths are relative to this file.
# Secrets never go in here: see the README (environment variables or *_file settings).

# language of brug's own messages on the command line: nl or en
language = "nl"

# where the partnership files are (files or folders of .yaml files)
partnerships = ["partnerschappen"]

# the local workspace: one folder per partnership (the embedded default platform)
workspace = "werkruimte"

# brug's memory: what it wrote and posted: a SQLite file, or PostgreSQL with the postgresql extra,
# e.g. "postgresql://brug@db.example.org/brug" (the password in ~/.pgpass or the URL in BRUG_STATE)
state = ".brug/state.db"

# folders with your own phase models (same format as workflows/phase-models/*.yaml)
phase_models = []

# a folder with your own versions of templates: <folder>/nl/agreement.md.j2 etc.
# templates = "mijn-sjablonen"

# [matrix]
# homeserver = "https://matrix.example.org"
# user_id = "@brug:example.org"
# device_id = "BRUG"
# members are invited to the space only; its rooms admit them. For clients that cannot join a
# room from a space, invite them to every room instead (more events, slower on rate limits):
# invite_every_room = true
# access token: environment variable BRUG_MATRIX__ACCESS_TOKEN, or:
# access_token_file = "/run/secrets/brug-matrix-token"

# the web page: members without a chat account answer by a personal link, coordinators see their
# portfolio ('brug web', or 'brug run' serves it too). Put a TLS proxy in front of it.
# [web]
# base_url = "https://brug.example.org"
# host = "127.0.0.1"
# port = 8080
# signing secret (16+ characters): environment variable BRUG_WEB__SECRET, or:
# secret_file = "/run/secrets/brug-web-secret"
# [[web.coordinators]]
# organisation = "gemeente-brakelveld"   # its id in the partnership files
# viewers = ["coordinatie@brakelveld.be", "nextcloud:els"]   # e-mail addresses, Matrix ids, nextcloud:<user id>
# coordinators may sign in with their Nextcloud account too: register brug in Nextcloud (Administration
# settings > Security > OAuth 2.0 clients) with the redirection URI <base_url>/login/nextcloud/callback
# [web.nextcloud_login]
# client_id = "..."
# url = "https://cloud.example.org"   # [nextcloud] url when left out
# client secret: environment variable BRUG_WEB__NEXTCLOUD_LOGIN__CLIENT_SECRET, or:
# client_secret_file = "/run/secrets/brug-nextcloud-client-secret"

# the SMTP server that mails the links (STARTTLS, then login)
# [mail]
# host = "smtp.example.org"
# port = 587
# user = "brug"
# sender = "brug@example.org"
# password: environment variable BRUG_MAIL__PASSWORD, or:
# password_file = "/run/secrets/brug-smtp-password"

# /healthz, /readyz and /metrics (Prometheus) from 'brug run'. With [web] they are on its port already;
# this section serves them without [web], or on a second, internal port beside it.
# [metrics]
# host = "127.0.0.1"
# port = 8080
"""


def main() -> None:
    app()
