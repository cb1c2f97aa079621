"""The chat commands partners can type, declared once: help texts, welcome messages and the command
parser all read this table."""

from __future__ import annotations

from dataclasses import dataclass

from brug.domain.types import Language, Text

# How much brug keeps of what people type in chat: enough for a clear agenda point, action or answer,
# small enough that every message built from them stays far below the platforms' size limits.
MAX_AGENDA_ITEM = 200
MAX_ACTION = 300
MAX_ANSWER = 2000
MAX_ARGUMENTS = 100  # for commands that take no free text: a number, a keyword, a version
MAX_SIGNAL = 500  # a signal with its theme and level, or a follow-up with an answer from policy


@dataclass(frozen=True)
class CommandSpec:
    """One command. `name`, `args` and `example` are Dutch; English partnerships see the English name
    (the first alias unless `english` says otherwise), `args_en` and `example_en`. Every name works
    in either language."""

    name: str
    aliases: tuple[str, ...]
    args: str
    summary: Text
    example: str
    coordinator_only: bool = False
    english: str | None = None
    args_en: str | None = None
    example_en: str | None = None
    max_length: int | None = None  # the longest free text after the command that brug accepts

    @property
    def limit(self) -> int:
        """The longest text after the command that brug reads at all."""
        return self.max_length or MAX_ARGUMENTS

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def word(self, language: Language) -> str:
        """The name to show in this language."""
        if language == "en":
            return self.english or (self.aliases[0] if self.aliases else self.name)
        return self.name

    def other_names(self, language: Language) -> list[str]:
        return [n for n in self.names if n != self.word(language)]

    def args_in(self, language: Language) -> str:
        return self.args_en if language == "en" and self.args_en is not None else self.args

    def example_in(self, language: Language) -> str:
        return self.example_en if language == "en" and self.example_en is not None else self.example


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "hulp",
        ("help",),
        "",
        Text(nl="Toont alle commando's en hoe je ze gebruikt.", en="Shows all commands and how to use them."),
        "!hulp",
        example_en="!help",
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
        args_en="<text>",
        example_en="!item Arrangements for the summer holidays",
        max_length=MAX_AGENDA_ITEM,
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
        args_en="<text> [@who] [date]",
        example_en="!action Draft the invitation @an 2026-10-01",
        max_length=MAX_ACTION,
    ),
    CommandSpec(
        "klaar",
        ("done",),
        "<nr>",
        Text(
            nl="Vinkt een actie af met haar nummer uit !status.", en="Ticks off an action by its number from !status."
        ),
        "!klaar 3",
        args_en="<no>",
        example_en="!done 3",
    ),
    CommandSpec(
        "fase",
        ("phase",),
        "[volgende]",
        Text(
            nl="Toont de huidige fase; met 'volgende' zet een coördinator de samenwerking een fase verder.",
            en="Shows the current phase; with 'next' a coordinator moves the partnership on.",
        ),
        "!fase volgende",
        args_en="[next]",
        example_en="!phase next",
    ),
    CommandSpec(
        "signaal",
        ("signal",),
        "<tekst> [#thema] [#niveau]",
        Text(
            nl="Noteert een signaal voor het beleid: iets wat je bij meerdere gezinnen of kinderen ziet, zonder "
            "namen of gegevens. Met het nummer volg je het op: `!signaal 3 besproken`, `!signaal 3 doorgegeven "
            "aan <instantie>`, `!signaal 3 antwoord <tekst>`, `!signaal 3 afgesloten`; ook `thema`, `niveau` "
            "(micro, meso, macro) en `vraag` (de vraag aan het beleid).",
            en="Notes a signal for policy makers: something you see with several families or children, without "
            "names or personal details. Follow it up by its number: `!signal 3 discussed`, `!signal 3 forwarded "
            "to <body>`, `!signal 3 answer <text>`, `!signal 3 closed`; also `theme`, `level` (micro, meso, "
            "macro) and `question` (the question to policy).",
        ),
        "!signaal Gezinnen vinden in de zomer geen betaalbare opvang #kinderopvang #meso",
        args_en="<text> [#theme] [#level]",
        example_en="!signal Families find no affordable childcare in the summer #kinderopvang #meso",
        max_length=MAX_SIGNAL,
    ),
    CommandSpec(
        "signalen",
        ("signals",),
        "",
        Text(
            nl="Toont de open signalen, met wie op een antwoord wacht.",
            en="Shows the open signals, and which wait for an answer.",
        ),
        "!signalen",
        example_en="!signals",
    ),
    CommandSpec(
        "akkoord",
        ("agree",),
        "[versie | voorgelegd]",
        Text(
            nl="Keurt de huidige versie van het akkoord goed voor je organisatie (als je mag beslissen); "
            "'voorgelegd' meldt dat je het in je organisatie hebt voorgelegd.",
            en="Approves the current version of the agreement for your organisation (if you may decide); "
            "'voorgelegd' (presented) says you put it to your organisation.",
        ),
        "!akkoord",
        args_en="[version | voorgelegd]",
        example_en="!agree",
    ),
    CommandSpec(
        "pauze",
        ("pause",),
        "",
        Text(nl="Pauzeert de reflectievragen.", en="Pauses the reflection prompts."),
        "!pauze",
        example_en="!pause",
        coordinator_only=True,
    ),
    CommandSpec(
        "hervat",
        ("resume",),
        "",
        Text(nl="Hervat de reflectievragen.", en="Resumes the reflection prompts."),
        "!hervat",
        example_en="!resume",
        coordinator_only=True,
    ),
    CommandSpec(
        "score",
        (),
        "<bouwsteen> <1-5>",
        Text(
            nl="Geeft een bouwsteen een score van 1 tot 5 voor de barometer, als stemmen in een peiling niet lukt.",
            en="Gives a bouwsteen a score from 1 to 5 for the barometer, when you cannot vote in a poll.",
        ),
        "!score communicatie 4",
    ),
    CommandSpec(
        "barometer",
        (),
        "",
        Text(
            nl="Toont de laatste barometerronde, of hoeveel mensen deze ronde al antwoordden.",
            en="Shows the last barometer round, or how many people answered in this round so far.",
        ),
        "!barometer",
    ),
)


def find_command(word: str) -> CommandSpec | None:
    word = word.lower().lstrip("!")
    return next((c for c in COMMANDS if word in c.names), None)
