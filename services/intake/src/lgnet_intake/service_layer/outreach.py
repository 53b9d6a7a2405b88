"""Outreach use cases (issue #19): mobile units, outings, street contacts and their link to a person, and the agenda.
Each runs inside the caller's transaction like intake's other use cases (handlers.py), with the same actors, the
same emission (outbox, caused by a partner's inbound event when there is one) and the same sealing of personal data.

Who may do what: the city's staff act on every unit and appointment of their city. A partner records outings and
contacts only for the units it runs, links a contact to a person only when it may write that person's data, books
appointments with the persons it serves or with contacts of its units, and changes only the appointments it booked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from lgnet_shared import clock, pii
from lgnet_shared.db import checked_then_locked
from lgnet_shared.errors import Conflict, ContractError, Forbidden, NotFound
from lgnet_shared.events import Sealed
from lgnet_shared.events import outreach as ev
from lgnet_shared.events.intake import Channel, Sex
from lgnet_shared.events.types import Country, Id, Instant, IsoDate
from lgnet_shared.ids import new_id
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from lgnet_intake.adapters import outreach_repository as repo
from lgnet_intake.adapters import repository as intake_repo
from lgnet_intake.domain import access, people
from lgnet_intake.domain import appointments as agenda
from lgnet_intake.domain import outreach as rules
from lgnet_intake.domain.access import Role
from lgnet_intake.service_layer import inbound
from lgnet_intake.service_layer.handlers import Context, Intake

NICKNAME_SECRET = "street-nickname-hash"  # purpose of the key the nicknames' lookup hash is derived under

# ---------------------------------------------------------------- commands (HTTP; partners send lgnet.partner.*)


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterMobileUnit(Command):
    unit_id: Id
    name: ev.ShortText
    vehicle: ev.ShortText | None = None
    area: ev.ShortText
    partner: Id | None = Field(default=None, description="The partner that runs the unit (none: the city)")
    team_size: StrictInt = Field(ge=1, le=50)


class RecordStreetContact(Command):
    """A contact, with the nickname or code the unit gave in clear (HTTP over TLS): intake seals it at once."""

    contact_id: Id
    outing_id: Id
    contacted_on: IsoDate
    age_band: ev.AgeBand
    sex: Sex
    nationality: Country | None = None
    needs_observed: list[ev.StreetNeed] = Field(default_factory=list)
    services_offered: list[ev.StreetService] = Field(default_factory=list)
    place: ev.Place
    same_as_contact_id: Id | None = None
    nickname: Annotated[str, Field(min_length=1, max_length=rules.MAX_NICKNAME)] | None = None


class LinkStreetContact(Command):
    person_id: Id
    linked_on: IsoDate
    case_id: Id | None = None


class BookAppointment(ev.AppointmentBookingSubmitted):
    """The city's staff may book a partner's operator (the desk books a cooperative's operator): they name her partner,
    whose namespace her operator value is in. A partner books its own operators only (none named, or itself)."""

    operator_partner: Id | None = Field(
        default=None, description="Whose operator: a partner of the city; none: the city's"
    )
    recorded_afterwards: StrictBool = Field(
        default=False,
        description="True: the appointment is recorded after its time (it took place, or was missed or cancelled,"
        " before now; its outcome or cancellation recorded next): not a booking, its start is before now. A booking"
        " (false) starts from the current minute on: an earlier start is refused at `starts_at`",
    )


class MoveAppointment(Command):
    starts_at: Instant
    ends_at: Instant


class CancelAppointment(Command):
    reason: ev.AppointmentCancellation
    on: IsoDate


class RecordAppointmentOutcome(Command):
    outcome: ev.AppointmentOutcome
    on: IsoDate


NICKNAMES_PER_CALL = 100  # as intake's POST /persons/search takes person_ids


class StreetPersonIds(Command):
    street_ids: list[Id] = Field(
        min_length=1,
        max_length=NICKNAMES_PER_CALL,
        description="Street persons whose nicknames to read: those the caller may read, in this order (others left"
        " out); a page naming many reads them in one call",
    )


class SendReminders(Command):
    day: IsoDate = Field(description="The day the reminders are sent: appointments of the next day are due")


def iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date | datetime | time) else v) for k, v in row.items()}


@dataclass
class Outreach:
    intake: Intake
    nickname_secret: bytes
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def conn(self) -> Any:
        return self.intake.conn

    # ------------------------------------------------------------ units and outings

    async def register_unit(self, ctx: Context, c: RegisterMobileUnit) -> dict[str, Any]:
        if ctx.actor.role is not Role.STAFF:
            raise Forbidden("", "registering a mobile unit is for the city's staff")
        people.check_pseudonymous_id(c.unit_id, "unit_id")  # in clear on intake's topic and reporting, for good
        for text, named in ((c.name, "name"), (c.vehicle, "vehicle"), (c.area, "area")):
            if text is not None:
                people.check_no_identifying_text(text, named)
        if c.partner is not None:
            await self.intake._partner_of_city(c.partner, ctx.city, "partner")
        row = {**c.model_dump(), "city": ctx.city, "created_by": ctx.actor.id}
        if not await repo.insert_unit(self.conn, row):
            raise await self.intake.taken(ctx, "unit_id", c.unit_id, f"mobile unit {c.unit_id} already exists")
        await self.intake.emit(ctx, ev.MobileUnitRegistered(**c.model_dump(), city=ctx.city))
        return {"unit_id": c.unit_id}

    async def units(self, ctx: Context) -> list[dict[str, Any]]:
        found = await repo.units(self.conn, ctx.city)
        return [iso(u) for u in found if ctx.actor.role is not Role.PARTNER or u["partner"] == ctx.actor.id]

    async def _unit_for_write(self, ctx: Context, unit_id: str, absent: NotFound | None = None) -> dict[str, Any]:
        """The unit, to its partner and the city's staff; another partner is answered `absent`, the error of the id
        it named (the unit's, an outing's, a contact's) as one that exists nowhere."""
        absent = absent or NotFound("unit_id", f"no mobile unit {unit_id}")
        u = await repo.unit(self.conn, unit_id, absent.field, ctx.actor)
        access.may_write_in_city(ctx.actor, u["city"], absent.field)
        if ctx.actor.role is Role.PARTNER and u["partner"] != ctx.actor.id:
            raise access.not_theirs(absent)
        return u

    async def record_outing(self, ctx: Context, c: ev.OutingSubmitted) -> dict[str, Any]:
        inbound.check_not_future(c.on, ctx.today, "on")  # what needs no state first, as the partners' kit checks
        people.check_pseudonymous_id(c.outing_id, "outing_id")
        for n, operator in enumerate(c.staff):  # operators' ids, in clear for good: never their e-mail or phone
            people.check_pseudonymous_id(operator, f"staff.{n}")
        u = await self._unit_for_write(ctx, c.unit_id)
        minutes = rules.outing_minutes(c.start_time, c.end_time)
        if len(set(c.places)) != len(c.places):
            raise ContractError("places", "lists a place twice")
        for n, place in enumerate(c.places):  # in clear on Kafka, kept after an erasure
            people.check_no_identifying_text(place, f"places.{n}")
        row = {
            "outing_id": c.outing_id,
            "unit_id": c.unit_id,
            "city": u["city"],
            "on_date": c.on,
            "start_time": c.start_time,
            "end_time": c.end_time,
            "minutes": minutes,
            "places": list(c.places),
            "staff": list(c.staff),
            "recorded_by": ctx.actor.id,
        }
        if not await repo.insert_outing(self.conn, row):
            raise await self.intake.taken(ctx, "outing_id", c.outing_id, f"outing {c.outing_id} already exists")
        await self.intake.emit(
            ctx,
            ev.OutingRecorded(
                outing_id=c.outing_id,
                unit_id=c.unit_id,
                city=u["city"],
                on=c.on,
                start_time=c.start_time,
                end_time=c.end_time,
                minutes=minutes,
                places=list(c.places),
                staff=list(c.staff),
            ),
        )
        return {"outing_id": c.outing_id, "minutes": minutes}

    async def outings(self, ctx: Context, since: date, until: date, unit_id: str | None) -> list[dict[str, Any]]:
        mine = {u["unit_id"] for u in await self.units(ctx)}
        return [iso(o) for o in await repo.outings(self.conn, ctx.city, since, until, unit_id) if o["unit_id"] in mine]

    # ------------------------------------------------------------ street contacts

    async def record_contact(self, ctx: Context, c: RecordStreetContact) -> dict[str, Any]:
        o = await repo.outing(self.conn, c.outing_id, ctx.actor)
        await self._unit_for_write(ctx, o["unit_id"], repo.no_outing(c.outing_id))
        inbound.check_not_future(c.contacted_on, ctx.today, "contacted_on")
        people.check_pseudonymous_id(c.contact_id, "contact_id")
        overnight = o["end_time"] <= o["start_time"]
        rules.check_contact_on_outing(c.contacted_on, o["on_date"], overnight, c.place, list(o["places"]))
        nickname_hash = None
        if c.nickname is not None:
            key = rules.nickname_key(c.nickname)
            nickname_hash = pii.keyed_hash(self.nickname_secret, f"{o['city']}|{key}")
        street: rules.StreetPerson | None = None
        if c.same_as_contact_id is not None:
            earlier = await repo.contact(self.conn, c.same_as_contact_id, "same_as_contact_id", ctx.actor)
            access.may_write_in_city(ctx.actor, earlier["city"], "same_as_contact_id")
            street = await repo.street_person(self.conn, earlier["street_id"], "same_as_contact_id", lock=True)
        elif nickname_hash is not None:
            street = await repo.street_person_by_nickname(self.conn, o["city"], nickname_hash)
        if street is None:
            street = rules.StreetPerson(f"st-{new_id()}", o["city"], c.contacted_on)
        street = street.contacted(c.contacted_on)
        sealed = None
        if c.nickname is not None:
            nickname = " ".join(c.nickname.split())
            try:
                sealed = (await self.intake.keys.seal_all(self.conn, street.street_id, {"nickname": nickname}))[
                    "nickname"
                ]
            except PermissionError:
                raise Conflict("nickname", "the street person was erased: record a new contact without it") from None
        await repo.save_street_person(self.conn, street, nickname_hash, None)
        row = {
            "contact_id": c.contact_id,
            "street_id": street.street_id,
            "outing_id": c.outing_id,
            "city": o["city"],
            "contacted_on": c.contacted_on,
            "age_band": c.age_band.value,
            "sex": c.sex.value,
            "nationality": c.nationality,
            "needs_observed": [n.value for n in c.needs_observed],
            "services_offered": [s.value for s in c.services_offered],
            "place": c.place,
            "nickname": sealed.model_dump() if sealed else None,
            "recorded_by": ctx.actor.id,
        }
        if not await repo.insert_contact(self.conn, row):
            raise await self.intake.taken(
                ctx, "contact_id", c.contact_id, f"street contact {c.contact_id} already exists"
            )
        await self.intake.emit(
            ctx,
            ev.StreetContactRecorded(
                contact_id=c.contact_id,
                street_id=street.street_id,
                outing_id=c.outing_id,
                unit_id=o["unit_id"],
                city=o["city"],
                contacted_on=c.contacted_on,
                first_contact_on=street.first_contact_on,
                age_band=c.age_band,
                sex=c.sex,
                nationality=c.nationality,
                needs_observed=list(c.needs_observed),
                services_offered=list(c.services_offered),
                place=c.place,
                nickname=sealed,
            ),
        )
        return {
            "contact_id": c.contact_id,
            "street_id": street.street_id,
            "first_contact_on": street.first_contact_on.isoformat(),
        }

    async def link_contact(self, ctx: Context, contact_id: str, c: LinkStreetContact) -> dict[str, Any]:
        found = await repo.contact(self.conn, contact_id, caller=ctx.actor)
        await self._unit_for_write(ctx, found["unit_id"], repo.no_contact("contact_id", contact_id))
        inbound.check_not_future(c.linked_on, ctx.today, "linked_on")
        person = await self.intake._person_for_write(ctx, c.person_id)
        if c.case_id is not None:  # the case that took the person in charge: open (a closed one takes nothing)
            case = await self.intake._case_for_write(ctx, c.case_id)
            if person["person_id"] not in await intake_repo.current_members(self.conn, case["household_id"]):
                raise ContractError("case_id", "the person is not in this case's household")
        before = await repo.street_person(self.conn, found["street_id"], "contact_id", lock=True)
        after = before.link(person["person_id"], c.linked_on)
        result = {
            "street_id": after.street_id,
            "person_id": after.person_id,
            "first_contact_on": after.first_contact_on.isoformat(),
            "days_to_taking_in_charge": after.days_to_taking_in_charge(),
        }
        if after == before:  # linked already, to this person: nothing changes
            return result
        await repo.save_street_person(self.conn, after, None, c.case_id)
        await self.intake.emit(
            ctx,
            ev.StreetPersonLinked(
                street_id=after.street_id,
                person_id=person["person_id"],
                city=after.city,
                linked_on=c.linked_on,
                first_contact_on=after.first_contact_on,
                case_id=c.case_id,
            ),
        )
        return result

    async def outing(self, ctx: Context, outing_id: str) -> dict[str, Any]:
        """An outing with its contacts (nicknames not shown: they are opened only on a street person's page)."""
        access.in_a_city(ctx.actor)
        o = await repo.outing(self.conn, outing_id, ctx.actor)
        await self._unit_for_write(ctx, o["unit_id"], repo.no_outing(outing_id))
        contacts = [self._without_nickname(r) for r in await repo.contacts(self.conn, outing_id=outing_id)]
        return {**iso(o), "contacts": contacts}

    async def street_person(self, ctx: Context, street_id: str) -> dict[str, Any]:
        """A street person's contacts, oldest first, with the nickname first given opened (the erased show none)."""
        sp = await repo.street_person(self.conn, street_id, caller=ctx.actor)
        rows = await repo.contacts(self.conn, street_id=street_id)
        access.may_write_in_city(ctx.actor, sp.city, "street_id")
        if ctx.actor.role is Role.PARTNER:
            served = {u["unit_id"] for u in await self.units(ctx)}
            if not served & {r["unit_id"] for r in rows}:  # another partner's: as an id that exists nowhere
                raise access.not_theirs(NotFound("street_id", f"no street person {street_id}"))
        nickname, erased = None, await self.intake.keys.erased_at(self.conn, street_id)
        for r in rows:
            if r["nickname"] and erased is None:
                nickname = await self.intake.keys.open(self.conn, Sealed(**r["nickname"]), "nickname")
                break
        return {
            "street_id": sp.street_id,
            "city": sp.city,
            "first_contact_on": sp.first_contact_on.isoformat(),
            "person_id": sp.person_id,
            "linked_on": sp.linked_on.isoformat() if sp.linked_on else None,
            "days_to_taking_in_charge": sp.days_to_taking_in_charge(),
            "nickname": nickname,
            "nickname_erased_on": clock.today(erased).isoformat() if erased else None,  # erased, not never given
            "contacts": [self._without_nickname(r) for r in rows],
        }

    async def street_nickname(self, ctx: Context, street_id: str) -> dict[str, Any]:
        """A street person's nickname as `street_person` shows it (the same rule of who may read it), nothing else."""
        sp = await self.street_person(ctx, street_id)
        return {k: sp[k] for k in ("street_id", "nickname", "nickname_erased_on")}

    async def erase_street_person(self, ctx: Context, street_id: str) -> dict[str, Any]:
        """Right to be forgotten for someone met on the street (staff): destroy the street person's key, so the
        nickname is unreadable in every copy of the log, and forget its lookup hash; the contacts' facts stay."""
        if ctx.actor.role is not Role.STAFF:
            raise Forbidden("", "erasing a street person is for the city's staff")
        await checked_then_locked(  # another city's: as none, before it is locked
            lambda lock: repo.street_person(self.conn, street_id, caller=ctx.actor, lock=lock),
            lambda sp: access.may_write_in_city(ctx.actor, sp.city, "street_id"),
        )
        await self.intake.keys.erase(self.conn, street_id)
        await repo.forget_nickname(self.conn, street_id)
        return {"street_id": street_id, "erased_on": ctx.today.isoformat()}

    @staticmethod
    def _without_nickname(row: dict[str, Any]) -> dict[str, Any]:
        out = iso(row)
        out["has_nickname"] = out.pop("nickname") is not None
        return out

    # ------------------------------------------------------------ appointments

    async def book(self, ctx: Context, c: ev.AppointmentBookingSubmitted) -> dict[str, Any]:
        access.may_write_in_city(ctx.actor, ctx.city, "operator")
        people.check_pseudonymous_id(c.appointment_id, "appointment_id")
        people.check_pseudonymous_id(c.operator, "operator")  # whose agenda: in clear for good, as an outing's staff
        agenda.check_one_party(c.person_id, c.contact_id)
        agenda.check_interval(c.starts_at, c.ends_at)
        agenda.check_ahead(c.starts_at, self.now())
        if getattr(c, "recorded_afterwards", False):  # HTTP only: a partner's booking event is a booking
            agenda.check_recorded_afterwards(c.starts_at, self.now())
        else:
            agenda.check_not_past(c.starts_at, self.now())
        if c.agenda is Channel.MOBILE_UNIT and c.unit_id is None:
            raise ContractError("unit_id", "a mobile unit's appointment names the unit")
        if c.unit_id is not None:
            await self._unit_for_write(ctx, c.unit_id)
        person_id = street_id = None
        if c.person_id is not None:
            person_id = (await self.intake._person_for_write(ctx, c.person_id))["person_id"]
        else:
            assert c.contact_id is not None
            found = await repo.contact(self.conn, c.contact_id, caller=ctx.actor)
            await self._unit_for_write(ctx, found["unit_id"], repo.no_contact("contact_id", c.contact_id))
            street_id = found["street_id"]
        party = await self._party(ctx, getattr(c, "operator_partner", None))
        slot = agenda.Slot(c.appointment_id, c.operator, c.starts_at, c.ends_at, party=party)
        await self._check_free(ctx, ctx.city, slot)
        row = {
            "appointment_id": c.appointment_id,
            "city": ctx.city,
            "agenda": c.agenda.value,
            "operator": c.operator,
            "unit_id": c.unit_id,
            "person_id": person_id,
            "street_id": street_id,
            "purpose": c.purpose.value,
            "starts_at": c.starts_at,
            "ends_at": c.ends_at,
            "booked_by": ctx.actor.id,
            "operator_partner": party,
        }
        if not await repo.insert_appointment(self.conn, row):
            raise await self.intake.taken(
                ctx, "appointment_id", c.appointment_id, f"appointment {c.appointment_id} already exists"
            )
        await self.intake.emit(
            ctx,
            ev.AppointmentBooked(
                appointment_id=c.appointment_id,
                city=ctx.city,
                agenda=c.agenda,
                operator=c.operator,
                unit_id=c.unit_id,
                person_id=person_id,
                street_id=street_id,
                purpose=c.purpose,
                starts_at=c.starts_at,
                ends_at=c.ends_at,
                booked_by=ctx.actor.id,
                operator_partner=party,
            ),
        )
        return {"appointment_id": c.appointment_id, "person_id": person_id, "street_id": street_id}

    async def _check_free(self, ctx: Context, city: str, slot: agenda.Slot) -> None:
        """No double booking of the slot's operator within its party (a booking or a move), under her lock."""
        await repo.lock_operator(self.conn, city, slot.party, slot.operator)
        found = await repo.operator_agenda(self.conn, city, slot.party, slot.operator, slot.starts_at, slot.ends_at)
        agenda.check_free(slot, found, _shown_to(ctx))

    async def _appointment_for_write(self, ctx: Context, appointment_id: str) -> dict[str, Any]:
        # A partner changes what it booked; one that sees the appointment in its agenda (its case's person, its unit)
        # is told why not, any other is answered as for an id that exists nowhere (no existence oracle).
        seen = ctx.actor.role is not Role.PARTNER or await repo.in_partners_agenda(
            self.conn, appointment_id, ctx.actor.id
        )

        def check(row: dict[str, Any]) -> None:
            access.may_write_in_city(ctx.actor, row["city"], "appointment_id")
            if ctx.actor.role is Role.PARTNER and row["booked_by"] != ctx.actor.id:
                if not seen:
                    raise access.not_theirs(NotFound("appointment_id", f"no appointment {appointment_id}"))
                raise Forbidden("appointment_id", "the appointment was booked by someone else")

        return await checked_then_locked(
            lambda lock: repo.appointment(self.conn, appointment_id, ctx.actor, lock=lock), check
        )

    async def move(self, ctx: Context, appointment_id: str, c: MoveAppointment) -> dict[str, Any]:
        row = await self._appointment_for_write(ctx, appointment_id)
        agenda.check_changeable(repo.slot_of(row))
        agenda.check_ahead(c.starts_at, self.now())
        agenda.check_not_past(c.starts_at, self.now())
        slot = agenda.Slot(appointment_id, row["operator"], c.starts_at, c.ends_at, party=row["operator_partner"])
        await self._check_free(ctx, row["city"], slot)
        await repo.update_appointment(self.conn, appointment_id, {"starts_at": c.starts_at, "ends_at": c.ends_at})
        await self.intake.emit(
            ctx,
            ev.AppointmentMoved(
                appointment_id=appointment_id,
                operator=row["operator"],
                starts_at=c.starts_at,
                ends_at=c.ends_at,
                previous_starts_at=row["starts_at"],
            ),
        )
        return {"appointment_id": appointment_id, "starts_at": c.starts_at.isoformat()}

    async def cancel(self, ctx: Context, appointment_id: str, c: CancelAppointment) -> dict[str, Any]:
        row = await self._appointment_for_write(ctx, appointment_id)
        agenda.check_changeable(repo.slot_of(row))
        inbound.check_dated(c.on, "on", ctx.today, self.intake.earliest_date)
        await repo.update_appointment(
            self.conn, appointment_id, {"status": "cancelled", "cancel_reason": c.reason.value}
        )
        await self.intake.emit(
            ctx, ev.AppointmentCancelled(appointment_id=appointment_id, reason=c.reason, cancelled_on=c.on)
        )
        return {"appointment_id": appointment_id, "status": "cancelled"}

    async def record_outcome(self, ctx: Context, appointment_id: str, c: RecordAppointmentOutcome) -> dict[str, Any]:
        row = await self._appointment_for_write(ctx, appointment_id)
        agenda.check_outcome(repo.slot_of(row), self.now(), c.on)
        inbound.check_not_future(c.on, ctx.today, "on")
        await repo.update_appointment(self.conn, appointment_id, {"outcome": c.outcome.value})
        await self.intake.emit(
            ctx, ev.AppointmentOutcomeRecorded(appointment_id=appointment_id, outcome=c.outcome, on=c.on)
        )
        return {"appointment_id": appointment_id, "outcome": c.outcome.value}

    async def change(self, ctx: Context, c: ev.AppointmentChangeSubmitted) -> dict[str, Any]:
        """A partner's change request: move, cancel or outcome, the same use cases as the HTTP routes."""
        if c.change == "moved":
            for missing in ("starts_at", "ends_at"):
                if getattr(c, missing) is None:
                    raise ContractError(missing, "a move gives starts_at and ends_at")
            assert c.starts_at is not None and c.ends_at is not None
            return await self.move(ctx, c.appointment_id, MoveAppointment(starts_at=c.starts_at, ends_at=c.ends_at))
        if c.change == "cancelled":
            if c.reason is None:
                raise ContractError("reason", "a cancellation gives its reason")
            return await self.cancel(ctx, c.appointment_id, CancelAppointment(reason=c.reason, on=c.on))
        outcome = ev.AppointmentOutcome(c.change)
        return await self.record_outcome(ctx, c.appointment_id, RecordAppointmentOutcome(outcome=outcome, on=c.on))

    async def day_agenda(
        self, ctx: Context, day: date, operator: str | None, unit_id: str | None, operator_partner: str | None = None
    ) -> list[dict[str, Any]]:
        """The appointments of a local day by start time: staff, the city's; a partner, those it booked, those of its
        cases' persons and of the units it runs (as its reminders; it changes only those it booked). `operator` and
        `operator_partner` narrow it to one party's operator(s) (`_whose`)."""
        if ctx.actor.role is Role.NATIONAL:
            raise Forbidden("", "the national role reads aggregates only")
        partner = ctx.actor.id if ctx.actor.role is Role.PARTNER else None
        whose = await self._whose(ctx, operator, operator_partner)
        rows = await repo.appointments_between(
            self.conn, ctx.city, *agenda.day_bounds(day), whose, unit_id, partner=partner
        )
        return [iso(r) for r in rows]

    async def _whose(self, ctx: Context, operator: str | None, operator_partner: str | None) -> agenda.OperatorFilter:
        """An operator filter as asked: `operator` alone, the caller's own party's (a partner's own, the staff's the
        city's); `operator_partner`, the staff naming one of the city's partners (404/403 otherwise, as a booking)."""
        party = await self._party(ctx, operator_partner)
        return agenda.operator_filter(operator, party, operator_partner is not None)

    async def _party(self, ctx: Context, named: str | None) -> str | None:
        """Whose operator(s) the caller names at `operator_partner`: a partner, its own (another: 403); the city's
        staff, the partner named, one of the city's (404 or 403 otherwise), or none named: the city's staff."""
        party = access.party_of(ctx.actor, named, "operator_partner")
        if party is not None and ctx.actor.role is not Role.PARTNER:
            await self.intake._partner_of_city(party, ctx.city, "operator_partner")
        return party

    async def due_reminders(self, ctx: Context, day: date) -> list[dict[str, Any]]:
        """Appointments due for a reminder on `day` (those of the next local day), booked and not yet held."""
        if ctx.actor.role is not Role.STAFF:
            raise Forbidden("", "reminders are the city's staff's")
        if day == date.max:
            return []  # no day after it to remind of
        end = agenda.day_bounds(day)[1]
        later = await repo.appointments_between(self.conn, ctx.city, end, agenda.day_bounds(day + timedelta(days=1))[1])
        due = {s.appointment_id for s in agenda.due_for_reminder(map(repo.slot_of, later), day)}
        return [r for r in later if r["appointment_id"] in due]

    async def open_reminders(
        self, ctx: Context, operator: str | None = None, operator_partner: str | None = None
    ) -> list[dict[str, Any]]:
        """The appointment reminders still open for the caller (what the desk's to-do list shows): reminded of their
        current start time, still booked, no outcome recorded yet. The city's staff see the city's; a partner (the
        case's operator) those of its cases' persons, of the contacts of units it runs, and those it booked.
        `operator` and `operator_partner` narrow to one party's operator(s), as the agenda. Each says whose
        operator it is (`operator_partner`). Oldest reminder first."""
        if ctx.actor.role is Role.NATIONAL:
            raise Forbidden("", "the national role reads aggregates only")
        partner = ctx.actor.id if ctx.actor.role is Role.PARTNER else None
        whose = await self._whose(ctx, operator, operator_partner)
        return [
            {
                "kind": "appointment_reminder_due",
                "appointment_id": r["appointment_id"],
                "agenda": r["agenda"],
                "operator": r["operator"],
                "operator_partner": r["operator_partner"],
                "unit_id": r["unit_id"],
                "person_id": r["person_id"],
                "street_id": r["street_id"],
                "case_id": r["case_id"],
                "case_partner": r["case_partner"],
                "purpose": r["purpose"],
                "starts_at": r["starts_at"].isoformat(),
                "ends_at": r["ends_at"].isoformat(),
                "since": r["due_on"].isoformat(),
                "waiting_days": max((ctx.today - r["due_on"]).days, 0),
            }
            for r in await repo.open_reminders(self.conn, ctx.city, partner, whose)
        ]

    async def send_reminders(self, ctx: Context, day: date) -> dict[str, Any]:
        """Emit `appointment_reminder_due` for every appointment due on `day`, once per appointment and start time
        (calling again for the same day emits nothing new; a moved appointment is reminded of its new time), and
        tell each partner it concerns on its own reminders topic (`partner_appointment_reminder`)."""
        due = await self.due_reminders(ctx, day)
        sent = []
        for r in due:
            if await repo.reminder_sent(self.conn, r["appointment_id"], r["starts_at"], day):
                sent.append(r["appointment_id"])
                await self.intake.emit(
                    ctx,
                    ev.AppointmentReminderDue(
                        appointment_id=r["appointment_id"],
                        city=r["city"],
                        agenda=Channel(r["agenda"]),
                        operator=r["operator"],
                        operator_partner=r["operator_partner"],
                        person_id=r["person_id"],
                        street_id=r["street_id"],
                        starts_at=r["starts_at"],
                        due_on=day,
                    ),
                    *[
                        ev.PartnerAppointmentReminder(
                            partner=p["partner"],
                            appointment_id=r["appointment_id"],
                            city=r["city"],
                            agenda=Channel(r["agenda"]),
                            operator=r["operator"],
                            operator_partner=r["operator_partner"],
                            purpose=ev.AppointmentPurpose(r["purpose"]),
                            person_id=r["person_id"],
                            street_id=r["street_id"],
                            case_id=p["case_id"],
                            unit_id=r["unit_id"],
                            starts_at=r["starts_at"],
                            ends_at=r["ends_at"],
                            due_on=day,
                        )
                        for p in await repo.reminder_partners(self.conn, r["appointment_id"])
                    ],
                )
        return {"day": day.isoformat(), "due": [r["appointment_id"] for r in due], "emitted": sent}


def _shown_to(ctx: Context) -> Callable[[agenda.Slot], bool]:
    """Whose appointments a refused booking may name: the city's staff, any; a partner, those of its agenda (it booked
    them, or they are of its operators: the only ones it can clash with)."""
    if ctx.actor.role is Role.PARTNER:
        return lambda other: ctx.actor.id in (other.booked_by, other.party)
    return lambda _: True
