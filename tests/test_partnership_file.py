"""A partnership file is checked strictly, and every problem is told in one clear line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from brug.content.partnerships import load_partnership, load_partnerships
from tests.conftest import EXAMPLES

VALID = textwrap.dedent("""\
    id: proef
    name: Proefsamenwerking
    workflow: samenwerken
    phase: vind-elkaar
    organisations:
      - id: school
        name: Basisschool De Linde
        kind: basisschool
        members:
          - name: An Peeters
            role: Zorgcoördinator
            coordinator: true
            matrix: "@an:linde.example"
      - id: clb
        name: CLB Rivierenland
        kind: clb
        members:
          - name: Bert Claes
            role: CLB-medewerker
    meetings:
      start: "2026-09-08 14:00"
      rrule: "FREQ=MONTHLY;BYDAY=+2TU"
""")


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_for(tmp_path: Path, library, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    p, problems = load_partnership(write(tmp_path, text), library)
    assert (p is None) == bool(problems)
    return [str(x) for x in problems]


def test_every_example_is_valid(library) -> None:  # type: ignore[no-untyped-def]
    assert len(EXAMPLES) >= 3
    loaded, problems = load_partnerships(EXAMPLES, library)
    assert problems == []
    assert {item.partnership.workflow for item in loaded} == {"samenwerken", "school-welzijn", "activiteit"}
    assert {item.partnership.form.value for item in loaded} == {"ad-hoc", "overleg", "netwerk"}


def test_a_minimal_file_is_valid_and_gets_defaults(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    p, problems = load_partnership(write(tmp_path, VALID), library)
    assert problems == [] and p is not None
    assert (p.language, p.timezone, p.form.value) == ("nl", "Europe/Brussels", "overleg")
    assert p.platforms.chat == ["local"] and p.platforms.files == "local"
    assert [m.key for _, m in p.members] == ["an-peeters", "bert-claes"]


BROKEN = [
    # (what to change, expected path in the message, expected words)
    (
        lambda t: t.replace('matrix: "@an:linde.example"', 'matrix: "an@linde"'),
        "organisations[0].members[0].matrix",
        "Matrix-id",
    ),
    (lambda t: t.replace("phase: vind-elkaar", "phase: vindelkaar"), "phase", "bedoel je 'vind-elkaar'"),
    (lambda t: t.replace("workflow: samenwerken", "workflow: onbekend"), "workflow", "fasemodel"),
    (lambda t: t.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=MONTLY"), "meetings", "RRULE"),
    (lambda t: t.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=MINUTELY"), "meetings", "hoogstens één keer per dag"),
    (lambda t: t + "timezone: Europe/Brussel\n", "timezone", "IANA"),
    (
        lambda t: t.replace("        role: CLB-medewerker", "        role: CLB-medewerker\n        rol: typo"),
        "organisations[1].members[0].rol",
        "onbekend veld",
    ),
    (lambda t: t.replace("  - id: clb", "  - id: school"), "organisations[1].id", "twee keer"),
    (lambda t: t.replace("Bert Claes", "An Peeters"), "organisations[1].members[0].name", "twee keer"),
    (lambda t: t.replace("kind: clb", "kind: clbb"), "organisations[1].kind", "bedoel je 'clb'"),
    (lambda t: t.replace("name: Proefsamenwerking\n", ""), "name", "ontbreekt"),
    (
        lambda t: t.replace("coordinator: true", "coordinator: ja"),
        "organisations[0].members[0].coordinator",
        "true of false",
    ),
    (lambda t: t.replace('start: "2026-09-08 14:00"', 'start: "8 september"'), "meetings.start", "2026-09-08 14:00"),
    (lambda t: t + "form: samen\n", "form", "verwacht overleg, ad-hoc, netwerk, fusie"),
    (lambda t: t + "tandems: [[an-peeters, niemand]]\n", "tandems[0][1]", "niemand"),
    (lambda t: t + "organisations: []\n", "organisations", "twee keer"),  # duplicate key in the YAML
]


@pytest.mark.parametrize(("change", "where", "words"), BROKEN)
def test_a_broken_file_gets_one_clear_line(tmp_path: Path, library, change, where, words) -> None:  # type: ignore[no-untyped-def]
    lines = problems_for(tmp_path, library, change(VALID))
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"{tmp_path / 'p.yaml'}:") or line.startswith("p.yaml:")
    assert re.match(r"^\S+\.yaml:\d+: ", line), f"no line number in {line!r}"
    assert f" {where}" in line, line
    assert words in line, line
    assert "\n" not in line


def test_english_messages_on_request(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, VALID.replace('matrix: "@an:linde.example"', 'matrix: "an"'))
    _, problems = load_partnership(path, library, language="en")
    assert "expected a Matrix id" in str(problems[0])


def test_not_yaml_and_not_a_mapping(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    assert "geen geldige YAML" in problems_for(tmp_path, library, "id: [unclosed\n")[0]
    assert "verwacht een YAML-bestand met velden" in problems_for(tmp_path, library, "- a\n- b\n")[0]
    assert "verwacht een YAML-bestand met velden" in problems_for(tmp_path, library, "")[0]


def test_yes_and_no_are_not_silently_booleans(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    line = problems_for(tmp_path, library, VALID.replace("coordinator: true", "coordinator: yes"))[0]
    assert "true of false" in line and "'yes'" in line


def test_same_id_in_two_files(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    a, b = write(tmp_path, VALID, "a.yaml"), write(tmp_path, VALID, "b.yaml")
    loaded, problems = load_partnerships([a, b], library)
    assert len(loaded) == 1 and len(problems) == 1
    assert "b.yaml" in str(problems[0]) and "a.yaml" in str(problems[0]) and "'proef'" in str(problems[0])


def test_cli_validate_passes_on_examples(cli, in_tmp) -> None:  # type: ignore[no-untyped-def]
    result = cli("validate", *map(str, EXAMPLES))
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == len(EXAMPLES)


def test_cli_validate_fails_with_one_line_per_file_and_no_traceback(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    good = write(in_tmp, VALID, "goed.yaml")
    bad1 = write(in_tmp, VALID.replace("phase: vind-elkaar", "phase: x"), "fout1.yaml")
    bad2 = write(in_tmp, VALID.replace("kind: clb", "kind: 3"), "fout2.yaml")
    result = cli("validate", str(good), str(bad1), str(bad2))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith("✗ fout1.yaml:4: phase: ") and errors[1].startswith(
        "✗ fout2.yaml:16: organisations[1].kind"
    )
    assert "Traceback" not in result.output + result.stderr
    assert "✓ goed.yaml" in result.stdout


def test_examples_contain_no_case_data_fields(library) -> None:  # type: ignore[no-untyped-def]
    """The product records agreements, actions and reflections: no field exists for people's cases."""
    for path in EXAMPLES:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        text = repr(data).lower()
        for word in ("rijksregister", "geboortedatum", "dossier", "diagnose"):
            assert word not in text, f"{path.name} mentions {word}"


def test_recursive_or_exploding_aliases_are_refused(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    assert "een alias verwijst naar zichzelf" in problems_for(tmp_path, library, "a: &x [*x]\n")[0]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    assert "herhaalt zichzelf via aliassen" in problems_for(tmp_path, library, bomb)[0]


def test_a_settings_section_of_the_wrong_type_is_a_clear_error(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    (in_tmp / "brug.toml").write_text("matrix = 5\n", encoding="utf-8")
    result = cli("validate", str(EXAMPLES[0]))
    assert result.exit_code == 1 and "brug.toml" in result.stderr and "matrix" in result.stderr
    assert "Traceback" not in result.stderr
