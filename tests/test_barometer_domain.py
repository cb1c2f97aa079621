"""The barometer's rules without I/O: aggregation, anonymity in small groups, attention, rounds."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from brug.domain.barometer import (
    ALL,
    FLOOR,
    RoundResult,
    Tally,
    Vote,
    aggregate,
    needs_attention,
    shown_groups,
    term_round,
)
from brug.domain.types import Bouwsteen

BRUSSELS = ZoneInfo("Europe/Brussels")


def votes_for(scores: dict[str, tuple[str, int]], b: Bouwsteen = Bouwsteen.doel) -> list[Vote]:
    return [Vote(voter, b, score, group) for voter, (group, score) in scores.items()]


def test_mean_spread_and_count_of_a_tally() -> None:
    tally = Tally((0, 1, 1, 1, 0))  # 2, 3, 4
    assert tally.n == 3
    assert tally.mean == 3.0
    assert round(tally.spread, 3) == 0.816


def test_two_respondents_show_nothing_and_min_respondents_is_never_below_three() -> None:
    two = aggregate("r", votes_for({"a": ("school", 1), "b": ("school", 5)}), min_respondents=1)
    assert two.min_respondents == FLOOR
    assert not two.published
    assert two.blocks == {}
    assert two.respondents == 2


def test_a_bouwsteen_rated_by_too_few_is_hidden_even_in_a_published_round() -> None:
    votes = votes_for({"a": ("s", 3), "b": ("s", 4), "c": ("w", 2)}) + [
        Vote("a", Bouwsteen.relatie, 5, "s"),
        Vote("b", Bouwsteen.relatie, 1, "s"),
    ]
    result = aggregate("r", votes)
    assert result.published
    assert result.blocks[Bouwsteen.doel].total is not None
    assert result.blocks[Bouwsteen.relatie].total is None
    assert result.mean(Bouwsteen.relatie) is None


def test_a_group_shows_only_when_it_and_the_rest_have_three() -> None:
    assert shown_groups({"school": 3, "welzijn": 2}, 5, 3) == set()  # the rest has 2
    assert shown_groups({"school": 3, "welzijn": 3}, 6, 3) == {"school", "welzijn"}
    # two groups of 3 shown and one person hidden would give that person away by subtraction
    assert shown_groups({"a": 3, "b": 3, "c": 1}, 7, 3) == {"b"} or shown_groups({"a": 3, "b": 3, "c": 1}, 7, 3) == {
        "a"
    }
    assert shown_groups({"a": 3, "b": 4, "c": 3}, 10, 3) == {"a", "b", "c"}


def test_attention_prefers_a_drop_then_a_gap_then_the_lowest_mean() -> None:
    def result(means: dict[Bouwsteen, int], groups: dict[Bouwsteen, tuple[int, int]] | None = None) -> RoundResult:
        votes = []
        for b, m in means.items():
            lo, hi = (groups or {}).get(b, (m, m))
            for i in range(3):
                votes.append(Vote(f"s{i}", b, lo, "school"))
                votes.append(Vote(f"w{i}", b, hi, "welzijn"))
        return aggregate("r", votes)

    before = result(dict.fromkeys(Bouwsteen, 4))
    now = result({**dict.fromkeys(Bouwsteen, 4), Bouwsteen.relatie: 3, Bouwsteen.doel: 2})
    found = needs_attention(now, before)
    assert found is not None and found.bouwsteen is Bouwsteen.doel and found.drop == 2.0
    gap = result({**dict.fromkeys(Bouwsteen, 4)}, {Bouwsteen.communicatie: (3, 5)})
    found = needs_attention(gap, None)
    assert found is not None and found.bouwsteen is Bouwsteen.communicatie
    assert found.gap is not None and found.gap[2] == 2.0
    lowest = result({**dict.fromkeys(Bouwsteen, 4), Bouwsteen.afstemming: 3})
    found = needs_attention(lowest, lowest)
    assert found is not None and found.bouwsteen is Bouwsteen.afstemming and found.lowest and found.drop is None


def test_terms_follow_the_flemish_school_year() -> None:
    autumn = term_round(datetime(2026, 11, 23, 10, tzinfo=UTC), BRUSSELS)
    assert autumn.id == "2026-2027-1"
    assert autumn.start.date().isoformat() == "2026-09-01"
    assert autumn.end is not None and autumn.end.date().isoformat() == "2027-01-04"  # after the Christmas holiday
    spring = term_round(autumn.end, BRUSSELS)
    assert spring.id == "2026-2027-2" and spring.start == autumn.end
    summer = term_round(datetime(2027, 7, 15, tzinfo=UTC), BRUSSELS)
    assert summer.id == "2026-2027-3" and summer.end is not None and summer.end.date().isoformat() == "2027-09-01"


# --- anonymity as a property ---------------------------------------------------------------------------

people = st.lists(
    st.tuples(st.sampled_from(["onderwijs", "welzijn", "bestuur", "andere"]), st.integers(1, 5)),
    min_size=0,
    max_size=14,
)


def published_numbers(result: RoundResult) -> object:
    return (
        result.published,
        result.respondents,
        {
            b: (
                block.total.counts if block.total else None,
                {g: t.counts for g, t in block.groups.items()},
            )
            for b, block in result.blocks.items()
        },
    )


@settings(max_examples=300, deadline=None)
@given(people, st.integers(3, 5))
def test_every_respondent_hides_among_at_least_two_others(crowd: list[tuple[str, int]], minimum: int) -> None:
    """Swap one person's rating with another's: for every person there are at least two others with
    whom the published figures stay exactly the same, so nobody's rating can be told from them."""
    voters = {f"p{i}": person for i, person in enumerate(crowd)}
    result = aggregate("r", votes_for(voters), minimum)
    shown = published_numbers(result)
    for me, (group, score) in voters.items():
        alike = 0
        for other, (other_group, other_score) in voters.items():
            if other == me:
                continue
            swapped = dict(voters)
            swapped[me] = (group, other_score)
            swapped[other] = (other_group, score)
            if published_numbers(aggregate("r", votes_for(swapped), minimum)) == shown:
                alike += 1
        if result.published and result.blocks[Bouwsteen.doel].total is not None:
            # a group's figures and everyone's: each person is one of >= minimum that could have given it
            assert alike >= minimum - 1, (me, voters, shown)
        else:
            assert result.blocks == {} or result.blocks[Bouwsteen.doel].total is None


@settings(max_examples=200, deadline=None)
@given(people)
def test_hidden_groups_are_never_fewer_than_three_together(crowd: list[tuple[str, int]]) -> None:
    sizes: dict[str, int] = {}
    for group, _ in crowd:
        sizes[group] = sizes.get(group, 0) + 1
    n = len(crowd)
    shown = shown_groups(sizes, n, FLOOR)
    hidden = n - sum(sizes[g] for g in shown)
    assert all(sizes[g] >= FLOOR and n - sizes[g] >= FLOOR for g in shown)
    assert not shown or hidden == 0 or hidden >= FLOOR  # with no group shown only the total is
    assert ALL not in shown
