"""Messages cut to a platform's size limit: split between blocks, numbered, never over the limit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from brug.content.fit import CUT, split_to_fit


def under(limit: int):  # type: ignore[no-untyped-def]
    return lambda text: len(text.encode()) <= limit


def test_a_message_that_fits_is_left_alone() -> None:
    assert split_to_fit("# Agenda\n\n1. Welkom\n", under(100)) == ["# Agenda\n\n1. Welkom\n"]


def test_a_long_agenda_is_split_between_blocks_in_numbered_parts() -> None:
    blocks = [f"{n}. **Punt {n}**\n\n    Uitleg bij punt {n}." for n in range(1, 41)]
    parts = split_to_fit("# Agenda\n\n" + "\n\n".join(blocks), under(600))
    assert 1 < len(parts) <= 5 and all(len(p.strip().encode()) <= 600 for p in parts)
    assert parts[0].startswith("# Agenda") and parts[0].rstrip().endswith(f"_(1/{len(parts)})_")
    joined = "\n".join(parts)
    assert all(f"**Punt {n}**" in joined for n in range(1, 41)) and CUT not in joined
    assert all(p.split("\n")[0][0].isdigit() or p.startswith("#") for p in parts)  # never cut inside a point


def test_past_the_last_part_the_rest_is_replaced_by_a_pointer() -> None:
    text = "\n\n".join(f"Alinea {n} " + "x" * 80 for n in range(100))
    parts = split_to_fit(text, under(300), max_parts=3, more="De rest staat in het document.")
    assert len(parts) == 3 and all(len(p.encode()) <= 300 for p in parts)
    assert parts[-1].rstrip().endswith("De rest staat in het document.") and CUT in parts[-1]


def test_one_huge_line_is_cut_at_a_character() -> None:
    parts = split_to_fit("&" * 40_000, under(1_000), max_parts=2)
    assert len(parts) == 2 and all(len(p.encode()) <= 1_000 for p in parts)
    assert parts[0].startswith("&" * 900)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=3_000), st.integers(min_value=120, max_value=2_000))
def test_every_part_fits_whatever_the_text(text: str, limit: int) -> None:
    for part in split_to_fit(text, under(limit)):
        assert len(part.strip("\n").encode()) <= limit
