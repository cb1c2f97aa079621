"""Property-based: whatever a partnership file holds, brug answers with clean problems, never a crash."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brug.content.partnerships import load_partnership
from tests.conftest import EXAMPLES

BASES = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in EXAMPLES]

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "FREQ=WEEKLY",
            "FREQ=NONSENSE",
            "@x:y",
            "2026-13-45 25:61",
            "Europe/Nowhere",
            "andere",
            "vind-elkaar",
            "🙂",
            "<script>",
            "{{ 7*7 }}",
            "\x00",
            "a" * 300,
        ]
    ),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths(v, (*prefix, i))
    return out


def mutate(data: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "unknown-key" and isinstance(parent, dict):
        parent[f"{last}x"] = value
    else:
        parent[last] = value
    return data


@st.composite
def mutated_files(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        candidates = paths(data)
        path = draw(st.sampled_from(candidates))
        data = mutate(data, path, draw(st.sampled_from(["replace", "delete", "unknown-key"])), draw(leaf))
    return data


def check_clean(text: str | bytes, library) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        p, problems = load_partnership(path, library)
    assert (p is None) == bool(problems)
    for problem in problems:
        line = str(problem)
        assert line.startswith(str(path)) or line.startswith("p.yaml"), line
        assert "\n" not in line and "Traceback" not in line
        assert problem.message


common = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(mutated_files())
def test_mutated_examples_fail_cleanly(library, data: Any) -> None:  # type: ignore[no-untyped-def]
    check_clean(yaml.safe_dump(data, allow_unicode=True), library)


@common
@given(st.text(max_size=300))
def test_random_text_fails_cleanly(library, text: str) -> None:  # type: ignore[no-untyped-def]
    check_clean(text, library)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_fail_cleanly(library, blob: bytes) -> None:  # type: ignore[no-untyped-def]
    check_clean(blob, library)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "id: x\n",
                "organisations:\n",
                "  - id: a\n",
                "    members: []\n",
                "phase: [\n",
                "meetings: {rrule: x}\n",
                "name: 'a\n",
                "\t",
                "&a [*a]\n",
                "!!python/object {}\n",
                "? [a]\n: b\n",
                "x: !!binary aGVsbG8=\n",
            ]
        ),
        max_size=8,
    )
)
def test_yaml_shapes_fail_cleanly(library, parts: list[str]) -> None:  # type: ignore[no-untyped-def]
    check_clean("".join(parts), library)
