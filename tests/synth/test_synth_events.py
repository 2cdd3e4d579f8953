"""A month of resident events for the synthetic city: deterministic, in the layout, plausible."""

from __future__ import annotations

from collections import Counter
from datetime import date
from functools import cache

from kiban.identity import events
from kiban.shared.mynumber import contains_my_number
from kiban.synth import files
from kiban.synth.city import city_params
from kiban.synth.events import month_of_events, read_residents, write_month
from kiban.synth.generate import generate_chunk

START = date(2026, 4, 1)


@cache
def jumin(seed: int = 3, residents: int = 20_000) -> bytes:
    params = city_params(seed, residents, START)
    return files.header("jumin.csv") + b"".join(
        generate_chunk(params, k).files["jumin.csv"] for k in range(params.chunks)
    )


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_events() -> None:
    first = month_of_events(jumin(), seed=3, start=START)
    assert first == month_of_events(jumin(), seed=3, start=START)
    assert first != month_of_events(jumin(), seed=4, start=START)
    assert first != month_of_events(jumin(), seed=3, start=date(2026, 5, 1))


def test_every_row_passes_the_layout_checks_and_dates_stay_in_the_month() -> None:
    data = month_of_events(jumin(), seed=3, start=START)
    parsed = events.parse(data, today=date(2026, 4, 30))
    assert not [str(e) for e in parsed.errors]
    assert parsed.rows == len(parsed.events)
    for e in parsed.events:
        assert START <= e.effective_on <= date(2026, 4, 30)
        assert e.notified_on is None or START <= e.notified_on <= date(2026, 4, 30)
        assert not contains_my_number(",".join(v for k, v in e.payload.items()))


def test_a_month_has_every_kind_of_event_at_plausible_rates() -> None:
    residents, _ = read_residents(jumin())
    data = month_of_events(jumin(), seed=3, start=START)
    kinds = Counter(e.type for e in events.parse(data, today=date(2026, 4, 30)).events)
    assert set(kinds) == set(events.EventType) - {events.EventType.CORRECTED}
    total = sum(kinds.values())
    assert 0.003 < total / len(residents) < 0.02  # ~10‰ of residents have an event in a month
    assert kinds[events.EventType.MOVED_OUT] <= kinds[events.EventType.MOVE_OUT_PLANNED]


def test_new_numbers_do_not_collide_with_the_city(tmp_path) -> None:
    (tmp_path / "jumin.csv").write_bytes(jumin())
    path = write_month(tmp_path, seed=3, start=START)
    assert path.name == "idou-202604.csv"
    known = {line.split(",")[1] for line in jumin().decode().splitlines()[1:]}
    parsed = events.parse(path.read_bytes(), today=date(2026, 4, 30))
    arriving = {
        e.person_no for e in parsed.events if e.type in (events.EventType.BIRTH, events.EventType.MOVED_IN)
    }
    assert arriving and not arriving & known
    numbers = [e.digits for e in parsed.events if e.digits]
    assert len(numbers) == len(set(numbers)) == len(arriving)
