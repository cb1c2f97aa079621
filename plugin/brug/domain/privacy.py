"""No case data: text that looks like one person's case is refused before anything is stored.

A signal describes a pattern — something partners see with several families or children — never
one child, family or person. The rules that recognise a personal case (a child's name with an age,
a date of birth, a national register number, a phone number, an address) are data, in
`workflows/privacy-rules.yaml`; this module only reads and applies them. A rule is a regular
expression, optionally narrowed by a check in code (a national register number's checksum) or by
words that are no names ("Kinderen (3)", "Ouders (12)" are groups, not a child).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator

from brug.domain.types import Language, NonEmpty, Slug, Strict, Text


class CaseRule(Strict):
    id: Slug
    what: Text  # what the rule found, as a partner reads it: "een telefoonnummer"
    pattern: NonEmpty  # a Python regular expression
    ignore_case: bool = False
    check: Literal["rijksregisternummer"] | None = None  # an extra test in code on each match
    not_names: list[str] = Field(default_factory=list)  # for rules with a (?P<name>…) group
    tip: Text | None = None  # a hint for this kind of find, added to the explanation

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.VERBOSE)
        except re.error as err:
            raise ValueError(f"not a valid regular expression: {err}") from None
        return value

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.VERBOSE | (re.IGNORECASE if self.ignore_case else 0))

    @cached_property
    def excluded_names(self) -> frozenset[str]:
        return frozenset(n.casefold() for n in self.not_names)


class PrivacyRules(Strict):
    """The file `workflows/privacy-rules.yaml`."""

    explanation: Text  # the opening of the kind refusal; {what} is what was found
    advice: Text  # how to write it as a pattern instead
    rules: list[CaseRule] = Field(min_length=1)


@dataclass(frozen=True)
class CaseFinding:
    rule: str
    what: Text


def find_case_data(text: str, rules: PrivacyRules) -> list[CaseFinding]:
    """What in `text` looks like a personal case, one finding per rule that matched."""
    found = []
    for rule in rules.rules:
        if any(_counts(rule, m) for m in rule.regex.finditer(text)):
            found.append(CaseFinding(rule.id, rule.what))
    return found


def _counts(rule: CaseRule, match: re.Match[str]) -> bool:
    groups = match.groupdict()
    if groups.get("name") and groups["name"].casefold() in rule.excluded_names:
        return False
    if rule.check == "rijksregisternummer":
        return looks_like_national_number(match[0])
    return True


def looks_like_national_number(text: str) -> bool:
    """A Belgian national register number: written with its separators (yy.mm.dd-nnn.cc), or eleven
    digits whose check number is right (97 - the first nine mod 97; +2000000000 for births from 2000)."""
    digits = re.sub(r"\D", "", text)
    if len(digits) != 11:
        return False
    if re.fullmatch(r"\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}", text.strip()):
        return True
    body, check = int(digits[:9]), int(digits[9:])
    return check in (97 - body % 97, 97 - (2_000_000_000 + body) % 97)


def refusal(findings: list[CaseFinding], rules: PrivacyRules, language: Language, example: str) -> str:
    """The kind explanation: what looked personal, why brug keeps nothing of it, how to write a pattern."""
    whats = [f.what(language) for f in findings]
    joined = (
        whats[-1] if len(whats) == 1 else ", ".join(whats[:-1]) + (" en " if language == "nl" else " and ") + whats[-1]
    )
    tips = [r.tip(language) for r in rules.rules if r.tip and r.id in {f.rule for f in findings}]
    parts = [rules.explanation(language).format(what=joined), *tips, rules.advice(language).format(example=example)]
    return "\n\n".join(parts)
