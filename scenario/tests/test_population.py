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
            born = {c.person.person_id for c in h.changes if c.reason == "birth"}  # a baby born during the year
            assert all(p.birth_date < h.opened_on for p in h.members if p.person_id not in born)
            minors = [p for p in h.members if p.minor]
            assert all((h.opened_on - p.birth_date).days < 18 * 365 for p in minors)


def test_some_households_change_during_the_year_within_the_published_figures() -> None:
    """A baby born, a relative reunited (members who join after the case opened) and an adult who leaves: each city
    has them, chosen from the seed, and the published figures count them (members reached by the case)."""
    for households in population().values():
        changes = [(h, c) for h in households for c in h.changes]
        assert {(c.change, c.reason) for _, c in changes} == {
            ("joined", "birth"),
            ("joined", "reunification"),
            ("left", "autonomy"),
        }
        assert households[-1].changes == []  # its last member is the one erased on request
        for h, c in changes:
            assert c.person in h.members and c.person is not h.reference
            assert c.person.person_id not in h.vulnerabilities_by_person  # her assessment names members only
            formed = [p.person_id for p in h.initial_members]
            if c.change == "joined":
                assert c.on is not None and c.person.person_id not in formed and h.opened_on < c.on
                assert c.person.minor == (c.reason == "birth")
                if c.reason == "birth":  # born after the case opened, joining a few days later
                    assert h.opened_on < c.person.birth_date <= c.on
            else:
                assert c.person.person_id in formed and c.on is None  # the day the case closes, today
    assert population() == population()  # the same changes from the same seed


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
