"""`brug outbox retry`: parked posts go back in line and out once; polls and unknown keys are left alone."""

from __future__ import annotations

import json
from pathlib import Path

from brug.adapters.local import LocalChat
from brug.app.service import PARK_AFTER
from brug.store import Store
from tests.test_workspace_local import NOW, project, run  # noqa: F401 - the CLI project fixture

PID = "cbe-vlierboom"


def park(store: Store, key: str, kind: str, content: str) -> None:
    store.enqueue("local", key, PID, "algemeen", kind, content)
    for _ in range(PARK_AFTER):
        store.record_post_failure("local", key, "M_FORBIDDEN: not allowed", park_after=PARK_AFTER)
    assert store.outbox_entry("local", key)["status"] == "parked"  # type: ignore[index]


def posted(project: Path, key: str) -> int:
    return sum(
        1
        for path in (project / "werkruimte").rglob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if json.loads(line)["key"] == key
    )


def test_parked_posts_go_back_in_line_and_out_exactly_once(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    run(cli, "apply")
    store = Store.at(project / "staat" / "brug.db")
    park(store, f"{PID}/test/agenda", "agenda", "Agenda die bleef hangen")
    park(store, f"{PID}/test/prompt", "reflection", "Een vraag die bleef hangen")
    park(store, f"{PID}/test/pulse", "pulse", "Peiling")
    store.close()
    assert "parked posts: 3" in run(cli, "status").stdout.replace("geparkeerde berichten", "parked posts")

    help_text = run(cli, "outbox", "retry", "--help").stdout
    assert "--key" in help_text and "hoogstens één keer" in help_text and "brug status" in help_text

    wrong = cli("outbox", "retry", PID, "--key", "bestaat/niet")
    assert wrong.exit_code == 1 and "bestaat/niet" in (wrong.stderr or wrong.output)
    assert posted(project, f"{PID}/test/agenda") == 0  # nothing was sent on a wrong key

    only = run(cli, "outbox", "retry", PID, "--key", f"{PID}/test/agenda")
    assert "1 bericht(en) gepost" in only.stdout
    assert posted(project, f"{PID}/test/agenda") == 1 and posted(project, f"{PID}/test/prompt") == 0

    rest = run(cli, "outbox", "retry", PID)
    assert "1 bericht(en) gepost" in rest.stdout and "blijft geparkeerd" in rest.stdout  # the poll stays
    again = run(cli, "outbox", "retry", PID)
    assert "0 bericht(en) gepost" in again.stdout
    assert posted(project, f"{PID}/test/agenda") == 1 and posted(project, f"{PID}/test/prompt") == 1
    store = Store.at(project / "staat" / "brug.db")
    assert [p["key"] for p in store.parked_posts(PID)] == [f"{PID}/test/pulse"]
    assert store.outbox_entry("local", f"{PID}/test/prompt")["status"] == "sent"  # type: ignore[index]
    store.close()


def test_a_parked_post_that_went_out_after_all_is_not_sent_again(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    run(cli, "apply")
    store = Store.at(project / "staat" / "brug.db")
    key = f"{PID}/test/late"
    park(store, key, "agenda", "Toch verstuurd")
    store.close()
    # the platform got it after all (the failure was in the answer, not in the delivery)
    transcript = LocalChat(project / "werkruimte", lambda: NOW).transcript(PID, "algemeen", ".jsonl")
    assert transcript.exists()  # the welcome went there
    with transcript.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"key": key, "ref": "algemeen#99", "kind": "agenda", "room": "algemeen",
                                 "at": "2026-11-23T10:00:00+01:00", "markdown": "Toch verstuurd"}) + "\n")
    result = run(cli, "outbox", "retry", PID)
    assert "1 bericht(en) gepost" in result.stdout
    assert posted(project, key) == 1
    store = Store.at(project / "staat" / "brug.db")
    assert store.outbox_entry("local", key)["ref"] == "algemeen#99"  # type: ignore[index]
    store.close()


def test_unpark_marks_the_post_claimed_before_so_adapters_look_for_it_first(tmp_path: Path) -> None:
    store = Store.at(tmp_path / "brug.db")
    park(store, f"{PID}/x", "agenda", "x")
    store.enqueue("local", f"{PID}/other", "andere", "algemeen", "agenda", "y")  # another partnership's: untouched
    rows = store.unpark(PID)
    assert [r["key"] for r in rows] == [f"{PID}/x"]
    entry = store.outbox_entry("local", f"{PID}/x")
    assert entry is not None and entry["status"] == "pending" and entry["attempts"] == 0 and entry["claims"] >= 2
    assert store.unpark(PID) == []  # nothing parked any more
    store.close()
