"""Problems found in a file, each told in one line: file, line, path to the field, what is expected.

    partnerschappen/school.yaml:14: organisations[1].members[0].matrix: verwacht een Matrix-id
    zoals @naam:server.be, gekregen '@an'

Pydantic's error types are translated here (Dutch and English); brug's own checks raise errors with
a `brug_*` type whose wording lives in the same table, so all messages read alike.
"""

from __future__ import annotations

import difflib
import errno
import functools
import os
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from brug.content.yamlfile import Loc, YamlDocument
from brug.domain.types import Language


@dataclass(frozen=True)
class Problem:
    file: str
    loc: Loc
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        path = format_loc(self.loc)
        text = shorten(" ".join(self.message.split()), MAX_MESSAGE)  # always one short line, whatever was read
        return f"{where}: {path}: {text}" if path else f"{where}: {text}"


MAX_MESSAGE = 300  # characters of one problem's message; a value quoted in it gets at most 60
QUOTED = {"value", "key", "part"}  # what a message quotes from the file


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProblemsFound(Exception):
    """Raised when a file (or several) cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = " ".join(str(part).split()) or "''"
            out += f".{name}" if out else name
    return out


def display_path(path: Path) -> str:
    """A path as the user would recognise it: relative to the working folder when possible."""
    return _display_path(str(path), os.getcwd())


@functools.lru_cache(maxsize=100_000)
def _display_path(path: str, cwd: str) -> str:  # a reconcile names each of 10,000 files: resolve each once
    try:
        return str(Path(path).resolve().relative_to(Path(cwd).resolve()))
    except ValueError:
        return path


# --- messages ------------------------------------------------------------------------------------

EXPECTED: dict[str, dict[Language, str]] = {
    "missing": {"nl": "verplicht veld ontbreekt", "en": "required field is missing"},
    "extra_forbidden": {"nl": "onbekend veld", "en": "unknown field"},
    "string_type": {"nl": "verwacht tekst", "en": "expected text"},
    "string_too_short": {"nl": "mag niet leeg zijn", "en": "must not be empty"},
    "string_too_long": {
        "nl": "te lang (hoogstens {max_length} tekens)",
        "en": "too long (at most {max_length} characters)",
    },
    "string_pattern_mismatch": {
        "nl": "verwacht een id in kleine letters, cijfers en streepjes (zoals 'school-clb')",
        "en": "expected an id of lower-case letters, digits and dashes (like 'school-clb')",
    },
    "literal_error": {"nl": "verwacht {expected}", "en": "expected {expected}"},
    "enum": {"nl": "verwacht {expected}", "en": "expected {expected}"},
    "int_type": {"nl": "verwacht een geheel getal", "en": "expected a whole number"},
    "int_parsing": {"nl": "verwacht een geheel getal", "en": "expected a whole number"},
    "int_from_float": {"nl": "verwacht een geheel getal", "en": "expected a whole number"},
    "bool_type": {"nl": "verwacht true of false", "en": "expected true or false"},
    "bool_parsing": {"nl": "verwacht true of false", "en": "expected true or false"},
    "list_type": {
        "nl": "verwacht een lijst (regels die met '- ' beginnen)",
        "en": "expected a list (lines starting with '- ')",
    },
    "model_type": {"nl": "verwacht een blok met velden", "en": "expected a block of fields"},
    "model_attributes_type": {"nl": "verwacht een blok met velden", "en": "expected a block of fields"},
    "dict_type": {"nl": "verwacht een blok met velden", "en": "expected a block of fields"},
    "too_short": {"nl": "verwacht minstens {min_length} element(en)", "en": "expected at least {min_length} item(s)"},
    "too_long": {"nl": "verwacht hoogstens {max_length} element(en)", "en": "expected at most {max_length} item(s)"},
    "greater_than_equal": {"nl": "verwacht minstens {ge}", "en": "expected at least {ge}"},
    "less_than_equal": {"nl": "verwacht hoogstens {le}", "en": "expected at most {le}"},
    "datetime_type": {
        "nl": 'verwacht een lokale tijd zoals "2026-09-08 14:00"',
        "en": 'expected a local time like "2026-09-08 14:00"',
    },
    "date_type": {"nl": 'verwacht een datum zoals "2027-06-30"', "en": 'expected a date like "2027-06-30"'},
    "brug_local_datetime": {
        "nl": 'verwacht een lokale tijd zoals "2026-09-08 14:00" (zonder tijdzone)',
        "en": 'expected a local time like "2026-09-08 14:00" (without a time zone)',
    },
    "brug_year": {"nl": "verwacht een jaar van {low} tot {high}", "en": "expected a year from {low} to {high}"},
    "brug_date": {"nl": 'verwacht een datum zoals "2027-06-30"', "en": 'expected a date like "2027-06-30"'},
    "brug_matrix_id": {
        "nl": "verwacht een Matrix-id zoals @naam:server.be",
        "en": "expected a Matrix id like @name:server.org",
    },
    "brug_nextcloud_id": {
        "nl": "verwacht een Nextcloud-gebruikersnaam of federated cloud-id (naam@cloud.server.be)",
        "en": "expected a Nextcloud user id or federated cloud id (name@cloud.server.org)",
    },
    "brug_email": {"nl": "verwacht een e-mailadres", "en": "expected an e-mail address"},
    "brug_renewal": {
        "nl": "renew_seconds mag hoogstens de helft van lease_seconds zijn (een huur moet een gemiste vernieuwing "
        "overleven)",
        "en": "renew_seconds must be at most half of lease_seconds (a lease must survive one missed renewal)",
    },
    "brug_viewer": {
        "nl": "verwacht een e-mailadres (ann@school.be), een Matrix-id (@ann:matrix.example) "
        "of een Nextcloud-gebruiker (nextcloud:ann)",
        "en": "expected an e-mail address (ann@school.be), a Matrix id (@ann:matrix.example) "
        "or a Nextcloud user (nextcloud:ann)",
    },
    "brug_timezone": {
        "nl": "verwacht een IANA-tijdzone zoals Europe/Brussels",
        "en": "expected an IANA time zone like Europe/Brussels",
    },
    "brug_rrule": {
        "nl": "verwacht een geldige RRULE (RFC 5545) zoals FREQ=MONTHLY;BYDAY=+2TU: {reason}",
        "en": "expected a valid RRULE (RFC 5545) like FREQ=MONTHLY;BYDAY=+2TU: {reason}",
    },
    "brug_meetings_empty": {
        "nl": "verwacht een rrule met start, of een lijst dates",
        "en": "expected an rrule with a start, or a list of dates",
    },
    "brug_rrule_needs_start": {
        "nl": "verwacht een start (eerste overleg) naast de rrule",
        "en": "expected a start (first meeting) next to the rrule",
    },
    "brug_barometer_rhythm": {
        "nl": "kies rrule (met start) of every_prompts, niet allebei",
        "en": "choose rrule (with a start) or every_prompts, not both",
    },
    "brug_duplicate_id": {
        "nl": "'{value}' komt twee keer voor; ids moeten uniek zijn",
        "en": "'{value}' is used twice; ids must be unique",
    },
    "brug_too_many_members": {
        "nl": "hoogstens {max} leden in totaal, niet {count}",
        "en": "at most {max} members in all, not {count}",
    },
    "brug_unknown_member": {
        "nl": "verwacht de id van een lid; '{value}' is er geen",
        "en": "expected the id of a member; '{value}' is not one",
    },
    "brug_tandem_same_org": {
        "nl": "een tandem bestaat uit twee leden van verschillende organisaties",
        "en": "a tandem is two members of different organisations",
    },
    "brug_missing_room": {"nl": "verwacht een kamer met id '{value}'", "en": "expected a room with id '{value}'"},
    "brug_pulse_scale": {
        "nl": "een pulsvraag heeft een scale met low en high",
        "en": "a pulse item needs a scale with low and high",
    },
    "brug_open_scale": {"nl": "een open vraag heeft geen scale", "en": "an open question has no scale"},
    "brug_unknown_ref": {
        "nl": "verwacht {expected}; '{value}' bestaat niet{hint}",
        "en": "expected {expected}; '{value}' does not exist{hint}",
    },
    "brug_duplicate_key": {
        "nl": "'{key}' staat twee keer in hetzelfde blok (eerst op regel {first})",
        "en": "'{key}' appears twice in the same block (first on line {first})",
    },
    "brug_yaml_alias_loop": {
        "nl": "geen geldige YAML: een alias verwijst naar zichzelf",
        "en": "not valid YAML: an alias refers to itself",
    },
    "brug_yaml_too_big": {
        "nl": "geen geldige YAML: te groot, of herhaalt zichzelf via aliassen",
        "en": "not valid YAML: too large, or repeats itself through aliases",
    },
    "brug_yaml": {"nl": "geen geldige YAML: {reason}", "en": "not valid YAML: {reason}"},
    "brug_yaml_tag": {
        "nl": "geen geldige YAML: '{value}' is geen geldige !!{tag}",
        "en": "not valid YAML: '{value}' is not a valid !!{tag}",
    },
    "brug_file_too_big": {
        "nl": "te groot voor een partnerschapsbestand ({size} kB; hoogstens {max} kB)",
        "en": "too large for a partnership file ({size} kB; at most {max} kB)",
    },
    "brug_not_a_file": {
        "nl": "geen gewoon bestand (een map, apparaat of pijp)",
        "en": "not a regular file (a folder, device or pipe)",
    },
    "brug_not_utf8": {
        "nl": "geen tekst in UTF-8 (sla het bestand op als UTF-8)",
        "en": "not UTF-8 text (save the file as UTF-8)",
    },
    "brug_too_deep": {
        "nl": "te diep genest (hoogstens {max} niveaus)",
        "en": "nested too deep (at most {max} levels)",
    },
    "brug_text_too_long": {
        "nl": "een tekst van meer dan {max} tekens",
        "en": "a text of more than {max} characters",
    },
    "brug_not_mapping": {
        "nl": "verwacht een YAML-bestand met velden (id, name, ...)",
        "en": "expected a YAML file with fields (id, name, ...)",
    },
    "brug_unreadable": {"nl": "kan het bestand niet lezen: {reason}", "en": "cannot read the file: {reason}"},
}

RRULE_REASONS: dict[str, dict[Language, str]] = {
    "too_long": {"nl": "hoogstens {max} tekens", "en": "at most {max} characters"},
    "dtstart": {
        "nl": "zet de eerste datum in 'start', niet in de regel",
        "en": "give the first date as 'start', not inside the rule",
    },
    "syntax": {"nl": "onleesbaar deel '{part}'", "en": "unreadable part '{part}'"},
    "unsupported": {
        "nl": "'{part}' kent brug niet; gebruik {parts}",
        "en": "brug does not support '{part}'; use {parts}",
    },
    "twice": {"nl": "{part} staat er twee keer in", "en": "{part} appears twice"},
    "too_often": {
        "nl": "hoogstens één keer per dag (FREQ=DAILY, WEEKLY, MONTHLY of YEARLY)",
        "en": "at most once a day (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)",
    },
    "freq": {
        "nl": "FREQ moet DAILY, WEEKLY, MONTHLY of YEARLY zijn, niet '{value}'",
        "en": "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not '{value}'",
    },
    "range": {
        "nl": "{part} moet tussen {low} en {high} liggen, niet {value}",
        "en": "{part} must be between {low} and {high}, not {value}",
    },
    "count_and_until": {"nl": "COUNT of UNTIL, niet allebei", "en": "COUNT or UNTIL, not both"},
    "until_before_start": {"nl": "UNTIL ligt vóór de start", "en": "UNTIL is before the start"},
    "several_a_day": {
        "nl": "één waarde in {part}: brug stuurt hoogstens één agenda of vraag per dag",
        "en": "one value in {part}: brug sends at most one agenda or prompt a day",
    },
    "value": {"nl": "'{value}' past niet in {part}", "en": "'{value}' does not fit {part}"},
    "nth_day": {
        "nl": "een genummerde dag (zoals +2TU) kan alleen bij FREQ=MONTHLY of YEARLY",
        "en": "a numbered day (like +2TU) needs FREQ=MONTHLY or YEARLY",
    },
    "setpos": {"nl": "BYSETPOS kan alleen bij FREQ=MONTHLY of YEARLY", "en": "BYSETPOS needs FREQ=MONTHLY or YEARLY"},
    "no_dates": {
        "nl": "de regel geeft geen enkele datum binnen twee jaar na de start",
        "en": "the rule gives no date within two years of the start",
    },
    "too_rare": {
        "nl": "de regel geeft minder dan één datum per twee jaar",
        "en": "the rule gives fewer than one date every two years",
    },
}

# What the YAML reader says, in Dutch: the most frequent cases in words a coordinator understands.
YAML_REASONS_NL: list[tuple[str, str]] = [
    ("could not find expected ':'", "na een veldnaam ontbreekt ':'"),
    ("did not find expected key", "de inspringing klopt niet: een regel staat verder of minder ver in dan verwacht"),
    ("expected <block end>", "de inspringing klopt niet: een regel staat verder of minder ver in dan verwacht"),
    ("did not find expected '-' indicator", "de inspringing van een lijst klopt niet"),
    ("tab character", "een tab in de inspringing (gebruik spaties)"),
    ("'\\t' that cannot start", "een tab in de inspringing (gebruik spaties)"),
    ("unexpected end of stream", "een aanhalingsteken of haakje wordt nergens gesloten"),
    ("could not determine a constructor", "een onbekende tag (een woord dat met ! begint)"),
    ("failed to decode base64", "een !!binary die niet te lezen is"),
    ("maximum nesting depth", "te diep genest"),
    ("mapping values are not allowed", "een ':' waar geen veld kan beginnen (zet de tekst tussen aanhalingstekens)"),
    ("found undefined alias", "een alias (*naam) zonder anker (&naam)"),
    ("cannot start any token", "een teken waarmee geen waarde kan beginnen (zet de tekst tussen aanhalingstekens)"),
    ("expected ',' or ']'", "een lijst tussen [ ] wordt niet goed gesloten"),
    ("expected ',' or '}'", "een blok tussen { } wordt niet goed gesloten"),
    ("expected alphabetic or numeric character", "een & of * zonder naam erna"),
    ("found unknown escape character", "een onbekende \\-code in een tekst tussen dubbele aanhalingstekens"),
    ("expected a single document", "meer dan één document (---) in het bestand"),
    ("found duplicate anchor", "een anker (&naam) dat twee keer voorkomt"),
]


def yaml_reason(reason: str, language: Language) -> str:
    """The YAML reader's reason in the user's language (its own words quoted when there is no better)."""
    if language == "en":
        return reason
    for phrase, dutch in YAML_REASONS_NL:
        if phrase in reason:
            return dutch
    return f"de YAML-lezer stopt hier («{shorten(reason, 80)}»)"


OS_REASONS: dict[int, dict[Language, str]] = {
    errno.ENOENT: {"nl": "bestaat niet", "en": "does not exist"},
    errno.EACCES: {"nl": "geen toestemming", "en": "permission denied"},
    errno.EPERM: {"nl": "geen toestemming", "en": "permission denied"},
    errno.ENOTDIR: {"nl": "een deel van het pad is geen map", "en": "a part of the path is not a folder"},
    errno.EISDIR: {"nl": "is een map", "en": "is a folder"},
    errno.EEXIST: {"nl": "bestaat al", "en": "already exists"},
    errno.ENOSPC: {"nl": "de schijf is vol", "en": "the disk is full"},
    errno.EROFS: {"nl": "alleen te lezen", "en": "read-only"},
    errno.ENAMETOOLONG: {"nl": "naam te lang", "en": "name too long"},
    errno.EADDRINUSE: {"nl": "het adres is al in gebruik", "en": "the address is already in use"},
    errno.EADDRNOTAVAIL: {"nl": "dit adres hoort niet bij deze machine", "en": "this address is not one of this machine's"},
}


def os_reason(err: OSError, language: Language) -> str:
    """Why the system refused, in the user's language (the system's own words for rare cases)."""
    known = OS_REASONS.get(err.errno or 0)
    return known[language] if known else (err.strerror or type(err).__name__)


GOT: dict[Language, str] = {"nl": "gekregen", "en": "got"}
DID_YOU_MEAN: dict[Language, str] = {"nl": "bedoel je '{0}'?", "en": "did you mean '{0}'?"}
ALLOWED: dict[Language, str] = {"nl": "toegelaten: {0}", "en": "allowed: {0}"}


def message(kind: str, language: Language, **ctx: Any) -> str:
    template = EXPECTED.get(kind, {}).get(language)
    if template is None:
        return str(ctx.get("fallback", kind))
    try:
        return template.format(**{k: shorten(str(v), 60) if k in QUOTED else v for k, v in ctx.items()})
    except (KeyError, IndexError):
        return template


def problems_from_validation(
    error: ValidationError,
    file: str,
    document: YamlDocument | None,
    model: type[BaseModel],
    language: Language,
) -> list[Problem]:
    """Turn pydantic's errors into one line each, in the user's language."""
    out: list[Problem] = []
    for err in error.errors(include_url=False):
        ctx = dict(err.get("ctx") or {})
        loc: Loc = tuple(ctx.pop("loc", None) or err["loc"])
        if "field" in ctx:  # a check across fields that is about one of them
            loc = (*loc, ctx.pop("field"))
        # pydantic puts union/function-validator tags in the path; they mean nothing to a reader
        loc = tuple(p for p in loc if isinstance(p, int) or not _is_validator_tag(p))
        kind = err["type"]
        text = message(kind, language, fallback=err["msg"], **_ctx_for(kind, ctx, language))
        if kind == "extra_forbidden":
            text += _suggestion(model, loc, language)
        elif kind not in ("missing",) and "input" in err and not isinstance(err["input"], dict | list):
            text += f", {GOT[language]} {_show(err['input'])}"
        line = document.line_of(loc) if document else None
        out.append(Problem(file=file, loc=loc, message=text, line=line))
    return out


def _is_validator_tag(part: str) -> bool:
    return part.startswith(("function-", "literal[", "nullable[", "union[", "json-or-python[", "lax-or-strict["))


def _ctx_for(kind: str, ctx: dict[str, Any], language: Language) -> dict[str, Any]:
    if kind == "brug_rrule":
        reason = RRULE_REASONS.get(str(ctx.get("reason")), {}).get(language)
        ctx["reason"] = reason.format(**ctx) if reason else ctx.get("reason")
    if "expected" in ctx:
        ctx["expected"] = str(ctx["expected"]).replace(" or ", ", ").replace("'", "")
    return ctx


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…'"


def _suggestion(model: type[BaseModel], loc: Loc, language: Language) -> str:
    fields = allowed_fields(model, loc[:-1])
    if not fields:
        return ""
    wrong = str(loc[-1])
    close = difflib.get_close_matches(wrong, fields, n=1, cutoff=0.6)
    if close:
        return "; " + DID_YOU_MEAN[language].format(close[0])
    return "; " + ALLOWED[language].format(", ".join(fields))


def allowed_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names the model accepts at `loc` (walking through lists and optionals)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Optional[X] -> X; Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line or 0, format_loc(p.loc)))
