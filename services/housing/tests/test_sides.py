"""Who may act on which side of a match, and what a refusal says (service layer, no I/O)."""

from __future__ import annotations

import pytest
from lgnet_housing.service_layer.handlers import _side_allowed
from lgnet_shared.access import Actor, Role
from lgnet_shared.errors import Forbidden, NotFound

MATCH = {"city": "torino", "case_partner": "coop-a", "opportunity_partner": "coop-b", "match_id": "m-1"}


def refusal(actor: Actor, side: str) -> str:
    with pytest.raises(Forbidden) as refused:
        _side_allowed(actor, MATCH, side, "match_id")
    assert refused.value.field == "match_id"
    return refused.value.reason


def test_each_side_is_its_partners_and_staff_act_for_both() -> None:
    a, b, c = (Actor(p, Role.PARTNER, "torino") for p in ("coop-a", "coop-b", "coop-c"))
    for side in ("household", "provider", "any"):
        _side_allowed(Actor("anna", Role.STAFF, "torino"), MATCH, side, "match_id")
    _side_allowed(a, MATCH, "household", "match_id")
    _side_allowed(b, MATCH, "provider", "match_id")
    _side_allowed(a, MATCH, "any", "match_id")
    # From an outside test: the case's own partner declining as the provider was told it was neither partner.
    assert refusal(a, "provider") == (
        "partner coop-a is not the opportunity's (provider side) partner (it is the other side's partner)"
    )
    assert refusal(b, "household") == (
        "partner coop-b is not the case's (household side) partner (it is the other side's partner)"
    )
    # A partner of neither side is answered as for a match that exists nowhere (no existence oracle).
    for side in ("household", "provider", "any"):
        with pytest.raises(NotFound) as absent:
            _side_allowed(c, MATCH, side, "match_id")
        assert (absent.value.field, absent.value.reason) == ("match_id", "no match m-1")
