"""The no-case-data rules of workflows/privacy-rules.yaml, on real Dutch texts partners would type.

Every refusal must name what it found; every false alarm below is a text a partner may well write
about a pattern, and must pass untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from brug.app.signals import case_refusal
from brug.content.library import Library, load_library, read_model
from brug.domain.privacy import PrivacyRules, find_case_data, looks_like_national_number
from tests.conftest import ROOT


def national_number(yymmdd: str, seq: str, *, born_after_2000: bool = False) -> str:
    """A national register number with a correct check number, written with its separators."""
    body = int(yymmdd + seq)
    check = 97 - ((2_000_000_000 + body) if born_after_2000 else body) % 97
    return f"{yymmdd[:2]}.{yymmdd[2:4]}.{yymmdd[4:]}-{seq}.{check:02d}"


REFUSED = [
    ("Jonas (8) mag niet mee op schoolreis omdat de ouders de factuur niet kunnen betalen", "kind-met-leeftijd"),
    ("Amira, 7 jaar, komt elke dag zonder ontbijt naar school", "kind-met-leeftijd"),
    ("Noah is 6 jaar en spreekt thuis nog geen Nederlands", "kind-met-leeftijd"),
    ("Lena van 9 jaar wacht al maanden op logopedie", "kind-met-leeftijd"),
    ("Sara-Lynn (11 j.) kan niet mee zwemmen", "kind-met-leeftijd"),
    ("Tom, aged 8, has no lunch box", "kind-met-leeftijd"),
    ("De mama belde vanop 0471 23 45 67, ze vindt geen opvang", "telefoonnummer"),
    ("Bel het gezin op 09/223.45.67 voor meer uitleg", "telefoonnummer"),
    ("Papa is bereikbaar op +32 470 12 34 56 na 17 uur", "telefoonnummer"),
    ("gsm 0486123456 van de oma", "telefoonnummer"),
    ("Leerling geboren op 14/03/2016 krijgt geen schooltoelage", "geboortedatum"),
    ("Een kleuter (°12.05.2021) wacht al een jaar op een plaats", "geboortedatum"),
    ("geboortedatum: 3 maart 2015, nog geen groeipakket ontvangen", "geboortedatum"),
    ("Rijksregisternummer 16.03.14-123.45 staat op de aanvraag", "rijksregisternummer"),
    (
        f"Het nummer {national_number('850730', '033').replace('.', '').replace('-', '')} staat op het attest",
        "rijksregisternummer",
    ),
    (f"RRN {national_number('160314', '123', born_after_2000=True)}", "rijksregisternummer"),
    ("Het gezin in de Kerkstraat 12 zit al maanden zonder verwarming", "adres"),
    ("Ze wonen Brugsesteenweg 245 bus 3, 9000 Gent, in een vochtige kelder", "adres"),
    ("sinds de verhuis naar de dorpsstraat 7a geen busverbinding meer", "adres"),
]

ALLOWED = [
    "Gezinnen met drie of meer kinderen vinden geen betaalbare huurwoning in Gent",
    "Kinderen van 3 jaar krijgen geen plaats in de kinderopvang",
    "Kleuters (2,5 tot 3 jaar) missen vaak de instapdatum",
    "De bus van lijn 5 stopt om 16.30 uur, voor de naschoolse opvang sluit",
    "Sinds 01/09/2025 om 08:30 is het schoolloket dicht op woensdag",
    "Van 01.09.2026 tot 30.06.2027 is er geen busvervoer naar de school",
    "De Kerkstraat is onveilig: 3 keer per week bijna-ongevallen aan de schoolpoort",
    "Speelplein 4 keer per jaar gesloten tijdens de vakantie",
    "Kinderen geboren in 2019 vallen buiten de nieuwe regeling",
    "In Gent, 2 jaar geleden nog 40 plaatsen, nu 12",
    "Ouders (12) kwamen naar de infoavond over de schooltoelage",
    "Schoolfacturen van € 150 tot € 300 per jaar zijn te hoog voor 1 op 5 gezinnen",
    "Het schooljaar 2025-2026 telt 182 lesdagen maar de opvang is 40 dagen dicht",
    "Op 12/10 besproken met het CLB; 0 reacties van de gemeente",
    "Leerlingen uit het 5de en 6de leerjaar (10-12 jaar) hebben geen fietsles",
    "De Sint-Jozefschool (12 klassen) heeft geen turnzaal",
    "Wachtlijst voor het CAW: 14 weken, in 2024 nog 6 weken",
    "Gezinnen moeten het formulier voor de studietoelage online invullen, op 1 pc in het OCMW",
    "Het dossiernummer 2025-00123 is bij het OCMW onbekend",  # a file number of a service is no personal data
    "Een attest kost 15 euro en is 3 maanden geldig",
]


@pytest.mark.parametrize(("text", "rule"), REFUSED, ids=[r for _, r in REFUSED])
def test_a_personal_case_is_recognised(library: Library, text: str, rule: str) -> None:
    assert rule in [f.rule for f in find_case_data(text, library.privacy)]


@pytest.mark.parametrize("text", ALLOWED)
def test_a_pattern_is_no_false_alarm(library: Library, text: str) -> None:
    assert find_case_data(text, library.privacy) == []


def test_the_refusal_is_kind_names_what_it_saw_and_shows_a_pattern(library: Library) -> None:
    text = case_refusal("Amira, 7 jaar, woont in de Kerkstraat 12", library, "nl")
    assert text is not None
    assert "een adres" in text and "een naam met een leeftijd" in text
    assert "niets opgeslagen" in text and "!signaal" in text
    assert "Amira" not in text and "Kerkstraat" not in text  # the refused text is not repeated
    assert "Noem dan de dienst" in text  # the address rule's tip
    english = case_refusal("Call 0470 12 34 56", library, "en")
    assert english is not None and "a phone number" in english and "nothing of this message" in english


def test_national_numbers_need_separators_or_a_right_check_number() -> None:
    assert looks_like_national_number("85.07.30-033.99")  # written as one: refused even with a typo
    assert looks_like_national_number("85073003328")
    assert not looks_like_national_number("85073003399")  # eleven digits that are no such number


def test_a_broken_rule_file_is_a_clear_problem(tmp_path: Path) -> None:
    source = (ROOT / "workflows" / "privacy-rules.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "privacy-rules.yaml"
    broken.write_text(source.replace("(?<![\\d.])\\d{2}", "(?<![\\d.]\\d{2}", 1), encoding="utf-8")
    rules, problems = read_model(broken, PrivacyRules)
    assert rules is None
    assert any("rules[0].pattern" in str(p) and "regular expression" in str(p) for p in problems)


def test_the_shipped_rules_load() -> None:
    assert {r.id for r in load_library().privacy.rules} == {
        "rijksregisternummer",
        "telefoonnummer",
        "geboortedatum",
        "adres",
        "kind-met-leeftijd",
    }
