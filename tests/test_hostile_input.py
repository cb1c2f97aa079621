"""Broken and hostile input: one clear line each, nothing written; text from outside is shown as text."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from brug.app.bot import Bot
from brug.app.conversation import Incoming
from brug.content.yamlfile import MAX_FILE_BYTES, YamlError, load_yaml_file
from tests.conftest import ROOT
from tests.runtime import local_runtime
from tests.test_partnership_file import VALID

ORG = """\
  - id: org{n}
    name: Organisatie {n}
    kind: clb
    members:
      - name: Lid {n}
        role: medewerker
"""

# About a hundred broken or hostile partnership files: each must give a line with file:line.
CORPUS: dict[str, str] = {
    "empty": "",
    "list": "- a\n- b\n",
    "scalar": "hallo\n",
    "tabs": "id: x\n\tname: y\n",
    "unclosed": "id: 'x\nname: y\n",
    "tag-int": VALID.replace("workflow: samenwerken", "workflow: !!int 'abc'"),
    "tag-float": VALID.replace("workflow: samenwerken", "workflow: !!float 'x'"),
    "tag-bool": VALID.replace("workflow: samenwerken", "workflow: !!bool 'misschien'"),
    "tag-timestamp": VALID.replace('start: "2026-09-08 14:00"', "start: !!timestamp '2026-02-30'"),
    "tag-binary": VALID.replace("workflow: samenwerken", "workflow: !!binary 'x'"),
    "tag-python": VALID.replace("workflow: samenwerken", "workflow: !!python/object:os.system {}"),
    "tag-own": VALID.replace("workflow: samenwerken", "workflow: !mijn x"),
    "tag-set": VALID.replace("workflow: samenwerken", "workflow: !!set {a: 1}"),
    "deep-flow": "id: x\nname: " + "[" * 500 + "]" * 500 + "\n",
    "deep-block": "id: x\nname:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60)) + "  " * 60 + "v: 1\n",
    "deeper": "x: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "long-timezone": VALID + "timezone: " + "A" * 300 + "\n",
    "timezone-path": VALID + "timezone: ../../etc/passwd\n",
    "long-name": VALID.replace("name: Proefsamenwerking", "name: " + "x" * 5000),
    "endless-text": VALID + "goal: " + "woord " * 2000 + "\n",
    "long-key": VALID + "k" * 3000 + ": 1\n",
    "long-kind": VALID.replace("kind: clb", "kind: " + "c" * 2000),
    "long-rule": VALID.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=DAILY;" + "BYMONTH=1;" * 200),
    "alias-loop": "a: &x [*x]\n",
    "bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)),
    "nul-raw": VALID.replace("phase: vind-elkaar", "phase: vind\x00elkaar"),
    "many-orgs": VALID.replace("organisations:\n", "organisations:\n" + "".join(ORG.format(n=n) for n in range(250))),
    "many-members": VALID.replace(
        "    members:\n      - name: Bert Claes\n        role: CLB-medewerker\n",
        "    members:\n" + "".join(f"      - name: Lid {n}\n        role: medewerker\n" for n in range(600)),
    ),
    "interval-0": VALID.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=WEEKLY;INTERVAL=0"),
    "count-0": VALID.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=WEEKLY;COUNT=0"),
    "until-before": VALID.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=WEEKLY;UNTIL=20250101"),
    "every-hour": VALID.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24)))),
    "never": VALID.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
    "leap-only": VALID.replace("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
    "year-1": VALID.replace('start: "2026-09-08 14:00"', 'start: "0001-01-01 00:00"'),
    "duplicate-key": VALID + "name: Tweede\n",
    "not-utf8": "id: caf\xe9\n",  # written as Latin-1 below
    "bidi": VALID.replace("Proefsamenwerking", "Proef\u202esamenwerking") + "phase: x\n",
}
for i, (old, new) in enumerate(
    [
        ("phase: vind-elkaar", "phase: x"),
        ("kind: clb", "kind: 3"),
        ("id: proef", "id: Proef Samen"),
        ('matrix: "@an:linde.example"', "matrix: 5"),
        ("role: Zorgcoördinator", "role: []"),
        ("coordinator: true", "coordinator: yes"),
        ('start: "2026-09-08 14:00"', 'start: "2026-09-08 14:00+02:00"'),
        ("organisations:", "organisation:"),
        ("members:", "members: {}\n        x:"),
        ("name: An Peeters", "name: ''"),
    ]
):
    CORPUS[f"mutation-{i}"] = VALID.replace(old, new, 1)

LINE = re.compile(r"^✗ kapot/(?P<file>[\w.-]+\.yaml):(?P<line>\d+): \S")


def write_corpus(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        encoding = "latin-1" if name == "not-utf8" else "utf-8"
        (folder / f"{name}.yaml").write_bytes(text.encode(encoding, "surrogatepass"))
    (folder / "huge.yaml").write_bytes(b"id: x\nname: " + b"a" * (MAX_FILE_BYTES + 10) + b"\n")
    return sorted([*CORPUS, "huge"])


def test_every_broken_file_gives_clear_lines_with_file_and_line(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    names = write_corpus(in_tmp / "kapot")
    result = cli("validate", "kapot")
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    for line in lines:
        assert LINE.match(line), f"no file:line in {line!r}"
        assert len(line) <= 400, line
        assert "\x00" not in line and "\x1b" not in line and "\u202e" not in line
        assert not re.search(r"\b(while|found|expected|could not|failed)\b", line), f"English in {line!r}"
    named = {LINE.match(line)["file"].removesuffix(".yaml") for line in lines}  # type: ignore[index]
    assert named == set(names)


def test_nothing_is_written_for_a_broken_corpus(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    write_corpus(in_tmp / "partnerschappen")
    shutil.copy(ROOT / "examples" / "cbe-armoede.yaml", in_tmp / "partnerschappen" / "goed.yaml")
    for command in ("apply", "plan", "status"):
        result = cli(command)
        assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in in_tmp.iterdir()) == ["partnerschappen"]  # no workspace, no state


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("tag-int", ":3: geen geldige YAML: 'abc' is geen geldige !!int"),
        ("tag-timestamp", "geen geldige !!timestamp"),
        ("deep-flow", ":2: te diep genest"),
        ("long-timezone", "timezone: verwacht een IANA-tijdzone"),
        ("huge", ":1: te groot voor een partnerschapsbestand"),
        ("many-orgs", "organisations: verwacht hoogstens 200 element(en)"),
        ("many-members", "organisations[1].members: verwacht hoogstens 500 element(en)"),
        ("endless-text", "goal: te lang (hoogstens 5000 tekens)"),
        ("not-utf8", ":1: geen tekst in UTF-8"),
        ("interval-0", "meetings.rrule:"),
    ],
)
def test_what_each_refusal_says(cli, in_tmp: Path, name: str, words: str) -> None:  # type: ignore[no-untyped-def]
    write_corpus(in_tmp / "kapot")
    result = cli("validate", f"kapot/{name}.yaml")
    assert result.exit_code == 1
    assert words in result.stderr, result.stderr


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "groot.yaml"
    with path.open("wb") as handle:
        handle.truncate(10 * 1024 * 1024)  # 10 MB, sparse: nothing written
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: pytest.fail("the file was read"))
    with pytest.raises(YamlError) as refused:
        load_yaml_file(path)
    assert refused.value.kind == "brug_file_too_big" and refused.value.line == 1


def test_a_device_is_refused_not_read_for_ever(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("validate", "/dev/zero")
    assert result.exit_code == 1
    assert result.stderr.strip() == "✗ /dev/zero:1: geen gewoon bestand (een map, apparaat of pijp)"


def _partnership(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "p.yaml").write_text(VALID.replace("name: Proefsamenwerking", f"name: {name}"), encoding="utf-8")


@pytest.mark.parametrize("name", ['"Netwerk [/bold] [pilot]"', '"[red]rood[/red] [link=x]y"'])
def test_names_with_rich_markup_are_printed_as_written(cli, in_tmp: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    _partnership(in_tmp / "partnerschappen", name)
    shown = json.loads(name)
    for command in ("validate", "plan", "apply", "status"):
        result = cli(command)
        assert result.exit_code == 0, (command, result.output, result.stderr)
        assert shown in result.stdout, (command, result.stdout)
    assert (in_tmp / "werkruimte" / "proef").is_dir()


def test_control_characters_are_taken_out_at_the_boundary(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    _partnership(in_tmp / "partnerschappen", '"Proef\\0samen\\ewerking\\x07\\u202e"')
    result = cli("apply")
    assert result.exit_code == 0, result.stderr
    assert "Proefsamenwerking" in result.stdout
    written = [p for p in (in_tmp / "werkruimte").rglob("*") if p.is_file()]
    assert written and any("Proefsamenwerking" in p.read_text(encoding="utf-8") for p in written)
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e]", text), path
    assert "\x00" not in result.stdout and "\x1b" not in result.stdout


async def test_control_characters_in_a_chat_message_are_taken_out(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "cbe-armoede.yaml", folder / "cbe.yaml")
    from datetime import UTC, datetime

    bot = Bot(local_runtime(tmp_path, library, lambda: datetime(2026, 11, 23, 10, tzinfo=UTC)), [folder])
    assert bot.load() == []
    text = "!agendapunt Vervoer\x00 naar\x1b[31m het CBE"
    await bot.handle(Incoming("local", "cbe-vlierboom", "overleg", "sofie-vermeulen", text, "$e1"))
    assert [i.text for i in bot.rt.store.open_agenda_items("cbe-vlierboom")] == ["Vervoer naar[31m het CBE"]


def test_export_to_an_existing_file_is_one_clear_line(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    _partnership(in_tmp / "partnerschappen", "Proef")
    assert cli("apply").exit_code == 0
    (in_tmp / "bestand").write_text("x", encoding="utf-8")
    result = cli("export", "proef", "--to", "bestand")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "✗ bestand is een bestand; geef met --to een map (bestaand of nieuw)."


def test_a_settings_file_that_is_a_device_is_refused(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("--config", "/dev/zero", "validate")
    assert result.exit_code == 1
    assert result.stderr.strip() == "✗ /dev/zero:1: geen gewoon bestand van hoogstens 256 kB"
