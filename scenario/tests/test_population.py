"""The scenario's people: deterministic, and by default the programme's published figures."""

from __future__ import annotations

from lgnet_scenario.payments_steps import iban
from lgnet_scenario.population import population, scaled


def test_default_sizes_are_the_published_results() -> None:
    people = population()
    trieste, torino = people["trieste"], people["torino"]
    assert sum(len(h.members) for h in trieste) == 106
    assert len(trieste) == 29
    assert sum(h.minors for h in trieste) == 47
    assert sum(len(h.members) for h in torino) > 160
    assert 55 <= sum(h.minors for h in torino) <= 65
    for households in people.values():
        for h in households:
            assert not h.reference.minor, "every household is headed by an adult"
            assert all(p.birth_date < h.opened_on for p in h.members)
            minors = [p for p in h.members if p.minor]
            assert all((h.opened_on - p.birth_date).days < 18 * 365 for p in minors)


def test_same_seed_same_people_other_seed_other_people() -> None:
    a, b, c = population(seed=1), population(seed=1), population(seed=2)
    ids = {h.household_id for hs in a.values() for h in hs}
    assert ids == {h.household_id for hs in b.values() for h in hs}
    assert not ids & {h.household_id for hs in c.values() for h in hs}


def test_scaled_keeps_every_household_with_an_adult() -> None:
    for plan in scaled(0.2):
        households = population((plan,))[plan.city]
        assert len(households) == plan.households
        assert sum(len(h.members) for h in households) == plan.persons


def test_fictional_ibans_have_valid_check_digits() -> None:
    value = iban("r-1")
    numeric = "".join(str(int(c, 36)) for c in value[4:] + value[:4])
    assert len(value) == 27 and value.startswith("IT") and int(numeric) % 97 == 1


def test_vulnerabilities_are_assessed_per_person_and_never_on_a_child_for_a_parent() -> None:
    for households in population().values():
        for h in households:
            whose = h.vulnerabilities_by_person
            assert sorted(v for codes in whose.values() for v in codes) == sorted(h.vulnerabilities)
            members = {p.person_id: p for p in h.members}
            assert all(person in members and not members[person].minor for person in whose)
