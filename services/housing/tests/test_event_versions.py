"""Housing's facts across versions: what was published stays readable (a fact topic is never rewritten), and the
latest versions say what docs/housing.md says they carry."""

from __future__ import annotations

from datetime import date

from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.events import REGISTRY, Event
from lgnet_shared.events import housing as hev

SOURCE = "/lgnet/housing"


def _old(event_type: str, version: int, **data: object) -> Event:
    return REGISTRY[(event_type, version)].model(**data)


def test_a_match_proposed_v1_with_its_score_still_reads() -> None:
    v1 = _old(
        hev.MatchProposed.type, 1, match_id="m1", household_id="h1", case_id="c1", opportunity_id="o1",
        city="torino", score=7.5, explanation=[], proposed_on=date(2026, 3, 1),
        score_breakdown={"priority": 7.5, "fit": 1.0, "fit_unused_capacity": 0.0, "fit_language": 0.0},
    )  # fmt: skip
    read = decode(to_envelope(v1, source=SOURCE, city="torino"))
    assert isinstance(read, hev.MatchProposed) and read.score == 7.5, read  # as published: replay reads it as it was
    assert read.score_breakdown["priority"] == 7.5


def test_a_match_proposed_v2_carries_no_priority() -> None:
    assert hev.MatchProposed.version == 2
    v2 = hev.MatchProposed(
        match_id="m1", household_id="h1", case_id="c1", opportunity_id="o1", city="torino", explanation=[],
        score_breakdown={"fit": 1.0}, proposed_on=date(2026, 3, 1),
    )  # fmt: skip
    assert v2.score is None and "score" not in v2.model_dump(exclude_none=True)


def test_an_opportunity_updated_v1_reads_with_nothing_cleared() -> None:
    v1 = _old(hev.OpportunityUpdated.type, 1, opportunity_id="o1", area="borgo_po")
    read = decode(to_envelope(v1, source=SOURCE, city="torino"))
    assert isinstance(read, hev.OpportunityUpdated) and read.cleared == [] and read.area == "borgo_po", read


def test_an_opportunity_updated_v2_clears_only_optional_fields() -> None:
    import pytest
    from pydantic import ValidationError

    assert hev.OpportunityUpdated(opportunity_id="o1", cleared=["available_until", "area"]).cleared
    with pytest.raises(ValidationError):
        hev.OpportunityUpdated(opportunity_id="o1", cleared=["capacity"])
