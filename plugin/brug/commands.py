"""The chat commands partners can type, declared once: help texts, welcome messages and the command
parser all read this table."""

from __future__ import annotations

from dataclasses import dataclass

from brug.domain.types import Text


@dataclass(frozen=True)
class CommandSpec:
    name: str
    aliases: tuple[str, ...]
    args: str
    summary: Text
    example: str
    coordinator_only: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "hulp",
        ("help",),
        "",
        Text(nl="Toont alle commando's en hoe je ze gebruikt.", en="Shows all commands and how to use them."),
        "!hulp",
    ),
    CommandSpec(
        "status",
        (),
        "",
        Text(
            nl="Waar staat de samenwerking: fase, volgend overleg, open acties.",
            en="Where the partnership stands: phase, next meeting, open actions.",
        ),
        "!status",
    ),
    CommandSpec(
        "agenda",
        (),
        "",
        Text(nl="Toont de agenda van het volgende overleg.", en="Shows the agenda of the next meeting."),
        "!agenda",
    ),
    CommandSpec(
        "agendapunt",
        ("item",),
        "<tekst>",
        Text(
            nl="Zet een punt op de agenda van het volgende overleg.",
            en="Adds an item to the agenda of the next meeting.",
        ),
        "!agendapunt Afspraken over de zomervakantie",
    ),
    CommandSpec(
        "actie",
        ("action",),
        "<tekst> [@wie] [datum]",
        Text(
            nl="Noteert een actie, met wie ze opneemt en tegen wanneer.",
            en="Records an action, who takes it on and by when.",
        ),
        "!actie Uitnodiging opstellen @an 2026-10-01",
    ),
    CommandSpec(
        "klaar",
        ("done",),
        "<nr>",
        Text(
            nl="Vinkt een actie af met haar nummer uit !status.", en="Ticks off an action by its number from !status."
        ),
        "!klaar 3",
    ),
    CommandSpec(
        "fase",
        ("phase",),
        "[volgende]",
        Text(
            nl="Toont de huidige fase; met 'volgende' zet een coördinator de samenwerking een fase verder.",
            en="Shows the current phase; with 'volgende' (next) a coordinator moves the partnership on.",
        ),
        "!fase volgende",
    ),
    CommandSpec(
        "pauze", ("pause",), "", Text(nl="Pauzeert de reflectievragen.", en="Pauses the reflection prompts."), "!pauze"
    ),
    CommandSpec(
        "hervat",
        ("resume",),
        "",
        Text(nl="Hervat de reflectievragen.", en="Resumes the reflection prompts."),
        "!hervat",
    ),
)


def find_command(word: str) -> CommandSpec | None:
    word = word.lower().lstrip("!")
    return next((c for c in COMMANDS if word in c.names), None)
