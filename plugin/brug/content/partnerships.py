"""Reading partnership files: shape (pydantic), references (phase model, phase, kinds), uniqueness.

A loaded partnership is kept compact: `brug run` holds thousands of them for as long as it runs, and a
validated `Partnership` costs about 25 kB (a pydantic object per organisation and member, each with its
dict and set of fields), eight times its file. `LoadedPartnership` keeps what the scheduler asks about at
every tick (id, time zone, meetings, reflection and barometer rhythms) and the rest as its canonical JSON,
compressed; `.partnership` validates that again when a partnership is worked on (a few recent ones stay
at hand). Reading the files again keeps what did not change: a file with the same bytes is not parsed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import weakref
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from brug.content.library import Library, read_model
from brug.content.problems import Problem, display_path, message
from brug.content.yamlfile import MAX_FILE_BYTES, load_yaml_file
from brug.domain.checks import Finding, check_references
from brug.domain.partnership import BarometerSettings, Meetings, Partnership, Reflection
from brug.domain.types import Language

WHAT: dict[str, dict[Language, str]] = {
    "phase_model": {"nl": "een fasemodel", "en": "a phase model"},
    "phase": {"nl": "een fase van fasemodel '{model}'", "en": "a phase of phase model '{model}'"},
    "kind": {"nl": "een organisatietype uit de catalogus", "en": "an organisation kind from the catalogue"},
}
CHOOSE: dict[Language, str] = {"nl": "; kies uit: {0}", "en": "; choose from: {0}"}
MEAN: dict[Language, str] = {"nl": "; bedoel je '{0}'?", "en": "; did you mean '{0}'?"}
AT_HAND = 64  # validated partnerships kept for the next question about them (a chat command asks several)


def canonical_json(p: Partnership) -> str:
    """The partnership as sorted JSON: what `inputs_hash` reads, and what a loaded one is kept as."""
    return json.dumps(p.model_dump(mode="json"), sort_keys=True)


@dataclass(frozen=True, slots=True, eq=False)
class LoadedPartnership:
    """A partnership file as read: compact, and what the scheduler needs at hand (see brug.domain.partnership's
    `Rhythms`); `.partnership` is the whole validated partnership, made again from the kept text when asked."""

    path: Path
    id: str
    zone: ZoneInfo
    meetings: Meetings | None
    reflection: Reflection | None
    barometer: BarometerSettings
    organisations: tuple[str, ...]  # their ids: who may see it in the portfolio, without validating it
    text: bytes  # canonical_json of the partnership, zlib-compressed (about a third of the file)
    read: bytes  # a digest of the file's bytes: a file read again with the same bytes is not parsed again

    @classmethod
    def of(cls, path: Path, p: Partnership, read: bytes = b"") -> LoadedPartnership:
        text = zlib.compress(canonical_json(p).encode())
        organisations = tuple(org.id for org in p.organisations)
        item = cls(path, p.id, p.zone, p.meetings, p.reflection, p.barometer, organisations, text, read)
        _remember(p, text)
        return item

    @property
    def partnership(self) -> Partnership:
        return _validated(self.text)


# The kept text each validated partnership was made from, by object: caches key on it (`revision`), so a
# partnership made again from the same text is the same to them, and none of them keeps a whole object.
_TEXTS: dict[int, tuple[weakref.ref[Partnership], bytes]] = {}


def _remember(p: Partnership, text: bytes) -> None:
    key = id(p)
    _TEXTS[key] = (weakref.ref(p, lambda _, key=key: _TEXTS.pop(key, None)), text)  # type: ignore[misc]


@lru_cache(maxsize=AT_HAND)
def _validated(text: bytes) -> Partnership:
    p = Partnership.model_validate_json(zlib.decompress(text))
    _remember(p, text)
    return p


def kept_text(p: Partnership) -> bytes | None:
    """The compressed canonical JSON a loaded partnership is kept as; None for one made otherwise."""
    found = _TEXTS.get(id(p))
    return found[1] if found is not None and found[0]() is p else None


def revision(p: Partnership) -> object:
    """What stays the same while a partnership's file does: its kept text (the same bytes object each time
    it is made again from it), or the object itself. For caches of what is worked out from a partnership."""
    text = kept_text(p)
    return p if text is None else text


class LoadedMapping(Mapping[str, Partnership]):
    """Loaded partnerships by id, each validated when it is looked up (not all at once)."""

    def __init__(self, items: Mapping[str, LoadedPartnership]) -> None:
        self._items = items

    def __getitem__(self, pid: str) -> Partnership:
        return self._items[pid].partnership

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, pid: object) -> bool:
        return pid in self._items

    def taking_part(self, organisations: Collection[str]) -> list[Partnership]:
        """The partnerships any of these organisations takes part in, validating only those."""
        wanted = set(organisations)
        return [item.partnership for item in self._items.values() if not wanted.isdisjoint(item.organisations)]


def partnership_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus every *.yaml / *.yml in folders named (not recursive)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            out.append(path)
    return out


def load_partnership(
    path: Path, library: Library, language: Language = "nl"
) -> tuple[Partnership | None, list[Problem]]:
    p, problems = read_model(path, Partnership, language)
    if p is None:
        return None, problems
    form = library.forms[p.form.value]
    if "workflow" not in p.model_fields_set and form.phase_model is not None:
        p = p.model_copy(update={"workflow": form.phase_model})  # the form's phase path, e.g. ad-hoc: light
    findings = check_references(p, library.phase_models, library.kinds)
    if not findings:
        return p, []
    document = load_yaml_file(path)
    name = display_path(path)
    return None, [Problem(name, f.loc, _finding_message(f, language), document.line_of(f.loc)) for f in findings]


def _digest_of(path: Path) -> bytes:
    """A digest of the file's bytes (b"" when it cannot be read here: it is then read as usual)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return b""
    return hashlib.blake2b(raw, digest_size=16).digest()


def load_partnerships(
    paths: Sequence[Path],
    library: Library,
    language: Language = "nl",
    known: Mapping[str, LoadedPartnership] | None = None,
) -> tuple[list[LoadedPartnership], list[Problem]]:
    """Read and check the partnership files. `known`: what was read before (by id); a file whose bytes are
    the same as then is not parsed or checked again (the library does not change while brug runs)."""
    loaded: list[LoadedPartnership] = []
    problems: list[Problem] = []
    where: dict[str, Path] = {}
    unchanged = {(item.path, item.read): item for item in (known or {}).values() if item.read}
    for path in partnership_files(paths):
        if not path.exists():
            problems.append(
                Problem(
                    display_path(path),
                    (),
                    message(
                        "brug_unreadable",
                        language,
                        reason="file not found" if language == "en" else "bestand niet gevonden",
                    ),
                )
            )
            continue
        read = _digest_of(path)
        item = unchanged.get((path, read)) if read else None
        if item is None:
            p, found = load_partnership(path, library, language)
            problems += found
            if p is None:
                continue
            item = LoadedPartnership.of(path, p, read)  # only the compact form stays: files are read one by one
        if item.id in where:
            problems.append(
                Problem(
                    display_path(path),
                    ("id",),
                    message("brug_duplicate_id", language, value=item.id) + f" ({display_path(where[item.id])})",
                    load_yaml_file(path).line_of(("id",)),
                )
            )
            continue
        where[item.id] = path
        loaded.append(item)
    return loaded, problems


def _finding_message(f: Finding, language: Language) -> str:
    ctx = dict(f.ctx)
    choices: list[str] = ctx.pop("choices", [])
    close = difflib.get_close_matches(str(ctx.get("value")), choices, n=1, cutoff=0.6)
    shown = ", ".join(choices[:12]) + (", …" if len(choices) > 12 else "")
    hint = MEAN[language].format(close[0]) if close else CHOOSE[language].format(shown)
    expected = WHAT[ctx.pop("what")][language].format(**ctx)
    return message(f.kind, language, expected=expected, hint=hint, **ctx)
