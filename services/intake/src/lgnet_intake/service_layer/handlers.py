"""Intake's use cases. Each runs inside the caller's transaction: it checks the domain rules, changes
intake's state and stages the canonical events in the outbox, all or nothing. HTTP routes and the partner
gatekeeper call the same functions."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from lgnet_shared import clock, outbox, pii, tracing
from lgnet_shared.access import id_taken, may_read_city
from lgnet_shared.codec import caused_by, to_envelope
from lgnet_shared.countries import check_languages
from lgnet_shared.db import Conn, checked_then_locked
from lgnet_shared.envelope import Envelope
from lgnet_shared.errors import Conflict, ContractError, Forbidden, NotFound
from lgnet_shared.events import Event, Sealed
from lgnet_shared.events import intake as ev
from lgnet_shared.events import outreach as oev
from lgnet_shared.events import partner as cmd_in

from lgnet_intake.adapters import credentials
from lgnet_intake.adapters import diary as diary_store
from lgnet_intake.adapters import outreach_repository as outreach_repo
from lgnet_intake.adapters import repository as repo
from lgnet_intake.domain import access, cases, households, needs, people
from lgnet_intake.domain.access import Actor, Role
from lgnet_intake.service_layer import commands as cmd
from lgnet_intake.service_layer import inbound

SOURCE = "/lgnet/intake"
IDENTITY_FIELDS = ("given_name", "family_name", "fiscal_code", "phone", "address")
# `_partner_refusal` of a person the partner neither serves nor registered: answered as an id that exists nowhere
NOT_THEIRS = "not theirs"


@dataclass(frozen=True)
class Context:
    """Who acts, when, and (for partners' inbound events) the event that caused this."""

    actor: Actor
    today: date
    cause: Envelope | None = None

    @property
    def city(self) -> str:
        if self.actor.city is None:
            raise Forbidden("", "the national role is read-only")
        return self.actor.city


@dataclass(frozen=True)
class NewPerson:
    """A registration checked and sealed: the `persons` row, the wrapped data key and the event to emit."""

    row: dict[str, Any]
    wrapped_key: bytes
    event: ev.PersonRegistered

    @functools.cached_property  # asked up to three times per registration on the gatekeeper's hot path
    def duplicate_keys(self) -> frozenset[repo.DuplicateKey]:
        """What another registration of the same person would share with this one (see `repo.DuplicateKey`)."""
        city = self.row["city"]
        return frozenset(
            repo.DuplicateKey(city, column, self.row[column])
            for column in ("fiscal_code_hash", "name_key_hash")
            if self.row[column] is not None
        )


@dataclass
class Intake:
    conn: Conn
    keys: pii.KeyStore
    fiscal_secret: bytes
    national_secret: bytes | None = None  # the national pseudonym key (settings.national_pseudonym_key)
    publish: bool = True  # False in a sandbox: state is kept (its own schema), no canonical fact leaves
    earliest_date: date = cases.PROGRAMME_START  # the programme's earliest date (settings.earliest_date)

    async def emit(self, ctx: Context, *events: Event) -> None:
        if not self.publish:
            return
        if ctx.cause is not None:
            envs = [caused_by(ctx.cause, e, source=SOURCE, partner=ctx.actor.partner) for e in events]
        else:
            tp = tracing.current_traceparent()
            envs = [
                to_envelope(e, source=SOURCE, city=ctx.city, partner=ctx.actor.partner, traceparent=tp) for e in events
            ]
        await outbox.append(self.conn, envs)

    async def taken(self, ctx: Context, field: str, object_id: str, precise: str) -> Conflict:
        """The 409 for a create whose id `field` = `object_id` is taken: `precise` only to whom the holder is theirs
        to know (`lgnet_shared.access.id_taken`; docs/partners.md, "Ids")."""
        city, holder = await repo.id_holder(self.conn, field, object_id)
        return id_taken(ctx.actor, field, precise, city, holder)

    # ------------------------------------------------------------ persons

    async def register_person(self, ctx: Context, c: cmd.RegisterPerson) -> dict[str, Any]:
        return await self._store_one(ctx, self._new_person(ctx, c))

    async def check_person(self, ctx: Context, c: cmd.CheckRegistration) -> dict[str, Any]:
        """A registration's every rule (`register_person`'s) on what it gives, nothing stored: a household's members
        are checked first, so that a member refused does not leave the others registered without a household."""
        access.may_write_in_city(ctx.actor, ctx.city)
        inbound.checked_person(c, ctx.today)
        return {"person_id": c.person_id}

    async def _store_one(self, ctx: Context, new: NewPerson) -> dict[str, Any]:
        """Store a registration and act on the duplicates it finds: same fiscal code → merged; same name and birth
        date → flagged for review."""
        person_id = new.row["person_id"]
        found = await repo.insert_person(self.conn, new.row, new.wrapped_key)
        if found is None:
            raise await self.taken(ctx, "person_id", person_id, f"person {person_id} is already registered")
        events: list[Event] = [new.event]
        result: dict[str, Any] = {"person_id": person_id, "same_as": None, "possible_duplicates": []}
        if existing := found.same_fiscal_code:
            # The same fiscal code is the same person: one person, whoever registered them first (stored merged).
            events.append(
                ev.PersonsMerged(
                    surviving_person_id=existing, merged_person_id=person_id, decided_by="fiscal_code_match"
                )
            )
            # A partner is told only of a person it may work on: else her id and existence are not its to know (and
            # its registration, merged, gives it nothing over her: `_person_for_write`).
            if ctx.actor.role is not Role.PARTNER or await self._partner_refusal(ctx, existing) is None:
                result["same_as"] = existing
        elif new.row["name_key_hash"]:
            for candidate in found.same_name_and_birth:
                await repo.flag_duplicate(self.conn, person_id, candidate, "name_birth_date")
                events.append(
                    ev.PossibleDuplicateFlagged(
                        person_id=person_id, candidate_person_id=candidate, match="name_birth_date"
                    )
                )
                # The flag is the city's staff's to review; to a partner the candidate is another party's person,
                # whose id and existence are not its to know.
                if ctx.actor.role is not Role.PARTNER:
                    result["possible_duplicates"].append(candidate)
        await self.emit(ctx, *events)
        return result

    async def register_persons(self, registrations: Sequence[tuple[Context, cmd.RegisterPerson]]) -> None:
        """Many registrations, in order, with the effects of `register_person` one by one, in fewer round trips
        (the gatekeeper's hot path). One that may be a duplicate — of a person on file, or of an earlier one in
        the batch — takes `register_person`'s own path; the others, nearly all, are stored together."""
        news = [(ctx, self._new_person(ctx, c)) for ctx, c in registrations]
        if len(news) == 1:
            await self._store_one(*news[0])
            return
        keys = [k for _, new in news for k in new.duplicate_keys]
        await repo.lock_names(self.conn, keys)  # as `insert_person` does for one
        seen = await repo.duplicate_keys_on_file(self.conn, keys)
        together: list[tuple[Context, NewPerson]] = []
        for ctx, new in news:
            if seen.isdisjoint(new.duplicate_keys):
                together.append((ctx, new))
            else:
                await self._store_together(together)  # earlier ones first: this one may match them
                together = []
                await self._store_one(ctx, new)
            seen.update(new.duplicate_keys)
        await self._store_together(together)

    async def _store_together(self, news: list[tuple[Context, NewPerson]]) -> None:
        if not news:
            return
        stored = await repo.insert_persons(self.conn, [(new.row, new.wrapped_key) for _, new in news])
        for ctx, new in news:
            if new.row["person_id"] not in stored:  # taken (or its key is): the one-by-one path names the reason
                pid = new.row["person_id"]
                raise await self.taken(ctx, "person_id", pid, f"person {pid} is already registered")
            await self.emit(ctx, new.event)

    def _name_hash(self, given: str | None, family: str | None, born: date) -> str | None:
        """The keyed hash of name and birth date that finds a likely duplicate; None without a whole name."""
        if not given or not family:
            return None
        return pii.keyed_hash(self.fiscal_secret, people.name_key(given, family, born))

    def _new_person(self, ctx: Context, c: cmd.RegisterPerson) -> NewPerson:
        """A registration checked, pseudonymised and sealed under a new data key: ready to store."""
        access.may_write_in_city(ctx.actor, ctx.city)
        nationality, third, plain = inbound.checked_person(c, ctx.today)
        fiscal_hash = None
        if "fiscal_code" in plain:
            fiscal_hash = pii.keyed_hash(self.fiscal_secret, plain["fiscal_code"])
        name_hash = self._name_hash(plain.get("given_name"), plain.get("family_name"), c.birth_date)
        key, wrapped = self.keys.new_key()
        identity = {f: pii.seal_with(key, c.person_id, f, v) for f, v in plain.items()}
        # The birth date travels sealed with the person's key (erased with them); consumers get `minor` instead.
        sealed_birth = pii.seal_with(key, c.person_id, "birth_date", c.birth_date.isoformat())
        row = {
            "person_id": c.person_id,
            "city": ctx.city,
            "registered_by": ctx.actor.id,
            "birth_date": c.birth_date,
            "sex": c.sex.value,
            "nationality": nationality,
            "third_country": third,
            "languages": list(c.languages),
            "literate": c.literate,
            "fiscal_code_hash": fiscal_hash,
            "name_key_hash": name_hash,
            "identity": {f: s.model_dump() for f, s in identity.items()},
        }
        event = ev.PersonRegistered(
            person_id=c.person_id,
            registered_by=ctx.actor.id,
            sex=c.sex,
            nationality=nationality,
            third_country=third,
            languages=list(c.languages),
            literate=c.literate,
            fiscal_code_hash=fiscal_hash,
            national_key=self._national_key(plain.get("fiscal_code")),
            identity=ev.IdentityV2(**identity, birth_date=sealed_birth),
            minor=people.is_minor(c.birth_date, ctx.today),
        )
        return NewPerson(row, wrapped, event)

    def _national_key(self, fiscal_code: str | None) -> str | None:
        """The cross-city key: the same in every city (one national key), unlike the city's own fiscal_code_hash."""
        if fiscal_code is None or not self.national_secret:
            return None
        return pii.keyed_hash(self.national_secret, fiscal_code)

    async def update_person(self, ctx: Context, person_id: str, c: cmd.UpdatePerson) -> dict[str, Any]:
        # Locked (once the caller may): an erasure at once waits, or is waited for and refuses the update (the person
        # was erased)
        p = await self._person_for_write(ctx, person_id, lock=True)
        pid = p["person_id"]
        if ctx.actor.role is Role.PARTNER and p["registered_by"] != ctx.actor.id:
            # What it may not read it may not overwrite blind; what it registered itself it sent (docs/partners.md)
            sharing = await repo.consent(self.conn, pid, ev.ConsentPurpose.PARTNER_SHARING.value)
            access.may_correct_person(sharing)
        changes: dict[str, Any] = {}
        event: dict[str, Any] = {"person_id": pid}
        sealed: dict[str, Sealed] = {}
        if c.birth_date is not None:
            people.check_birth_date(c.birth_date, ctx.today)
            changes["birth_date"] = c.birth_date
            # Sealed on Kafka; what reports need of it is recomputed here: minor now and at each case's opening.
            sealed = await self.keys.seal_all(self.conn, pid, {"birth_date": c.birth_date.isoformat()})
            event["minor"] = people.is_minor(c.birth_date, ctx.today)
            event["minor_in_cases"] = {
                case_id: people.is_minor(c.birth_date, opened_on)
                for case_id, opened_on in await repo.cases_of_person(self.conn, pid)
            }
        if c.sex is not None:
            changes["sex"] = c.sex.value
            event["sex"] = c.sex
        if c.nationality is not None:
            code, third = people.nationality(c.nationality)
            changes["nationality"] = event["nationality"] = code
            changes["third_country"] = event["third_country"] = third
        if c.languages is not None:
            changes["languages"] = event["languages"] = check_languages(c.languages)
        if c.literate is not None:
            changes["literate"] = event["literate"] = c.literate
        if c.identity is not None:
            plain = c.identity.model_dump(exclude_none=True)
            if "phone" in plain:
                plain["phone"] = people.phone(plain["phone"])
            if "fiscal_code" in plain:
                plain["fiscal_code"] = people.fiscal_code(
                    plain["fiscal_code"],
                    birth_date=c.birth_date or p["birth_date"],
                    sex=c.sex or p["sex"],
                    field="identity.fiscal_code",
                )
                changes["fiscal_code_hash"] = pii.keyed_hash(self.fiscal_secret, plain["fiscal_code"])
                event["national_key"] = self._national_key(plain["fiscal_code"])
            names = await self.keys.seal_all(self.conn, pid, plain)
            changes["identity"] = {**p["identity"], **{f: s.model_dump() for f, s in names.items()}}
            sealed.update(names)
        if sealed:
            event["identity"] = ev.IdentityV2(**sealed)
        cleared = self._cleared(c)
        if gone := cleared & p["identity"].keys():  # the event says she changed, nothing of what went
            changes["identity"] = {f: v for f, v in changes.get("identity", p["identity"]).items() if f not in gone}
        if "fiscal_code" in cleared and p["fiscal_code_hash"] is not None:
            # Her blind index goes with it: she is no longer found by the code, and a registration with it is another
            # person (not merged into her, not flagged as her). Flags raised by it stay for the staff's review.
            changes["fiscal_code_hash"] = None
        if "literate" in cleared and p["literate"] is not None:
            changes["literate"] = None  # not recorded (the fact has no word for it: nothing downstream reads it)
        if not changes:
            raise ContractError("", "nothing to update")
        if c.birth_date is not None or (c.identity is not None and ({"given_name", "family_name"} & plain.keys())):
            # Rectified (GDPR art. 16): duplicates are found by the name and birth date as they are now, not by
            # those corrected (a registration under the wrong name was flagged as her, one under the right not).
            now: dict[str, str | None] = {
                f: None if c.identity is None else plain.get(f) for f in ("given_name", "family_name")
            }
            for f, value in now.items():
                if value is None and f in p["identity"]:
                    now[f] = await self.keys.open(self.conn, Sealed(**p["identity"][f]), f)
            born = c.birth_date or p["birth_date"]
            changes["name_key_hash"] = self._name_hash(now["given_name"], now["family_name"], born)
        # A partner's fiscal code that another person of the city has makes them one person, as a registration with
        # it would (merged into hers), answered as any correction: a 409 "merge them" told it the code was on file
        # under another partner (docs/partners.md, "What is not yours"). The city's staff are told, and merge.
        merging = not access.told_of_a_fiscal_code_on_file(ctx.actor)
        same = await repo.update_person(self.conn, p, changes, merge_same_fiscal_code=merging)
        events: list[Event] = [ev.PersonUpdated(**event)]
        if same is not None:
            events.append(
                ev.PersonsMerged(surviving_person_id=same, merged_person_id=pid, decided_by="fiscal_code_match")
            )
        await self.emit(ctx, *events)
        return {"person_id": pid}

    @staticmethod
    def _cleared(c: cmd.UpdatePerson) -> set[str]:
        """What `c.clear` names (`phone`, `address`, `fiscal_code`, `literate`); one also given is refused, and so
        is the name or the surname: they stay required (corrected, never taken away)."""
        for i, field in enumerate(c.clear or ()):
            if field in ("identity.given_name", "identity.family_name"):
                raise ContractError(
                    f"clear.{i}", "a person's name and surname stay required: correct them, they cannot be taken away"
                )
        names = {field.removeprefix("identity.") for field in c.clear or ()}
        if c.identity is not None and (both := names & c.identity.model_dump(exclude_none=True).keys()):
            raise ContractError("clear", f"identity.{min(both)} is given and cleared at once")
        if c.literate is not None and "literate" in names:
            raise ContractError("clear", "literate is given and cleared at once")
        return names

    async def merge_persons(self, ctx: Context, surviving_id: str, c: cmd.MergePersons) -> dict[str, Any]:
        self._staff_only(ctx, "merging persons")
        # Both of the caller's city (another city's: as none) before anything is locked; then the city's merges one
        # after the other, each reading the records as the one before left them
        city = (await repo.person(self.conn, surviving_id, caller=ctx.actor))["city"]
        await repo.person(self.conn, c.merged_person_id, resolve=False, caller=ctx.actor)
        await repo.lock_merges(self.conn, city)
        # Both records locked, as an erasure locks hers: one erased meanwhile is seen erased (a record merged into
        # a person erased at that moment kept its names, the erasure having looked for hers before it was merged)
        surviving = await repo.person(self.conn, surviving_id, caller=ctx.actor, lock=True)
        merged = await repo.person(self.conn, c.merged_person_id, resolve=False, caller=ctx.actor, lock=True)
        for p, field in ((surviving, "person_id"), (merged, "merged_person_id")):
            access.may_write_in_city(ctx.actor, p["city"], field)
            if p["erased_at"] is not None:
                raise Conflict(field, "the person was erased")
        if merged["merged_into"] is not None:
            raise Conflict("merged_person_id", f"already merged into {merged['merged_into']}")
        if merged["person_id"] == surviving["person_id"]:
            raise ContractError("merged_person_id", "a person cannot be merged into themselves")
        await repo.merge(self.conn, surviving["person_id"], merged["person_id"])
        await self.emit(
            ctx,
            ev.PersonsMerged(
                surviving_person_id=surviving["person_id"],
                merged_person_id=merged["person_id"],
                decided_by=ctx.actor.id,
            ),
        )
        return {"person_id": surviving["person_id"], "merged_person_id": merged["person_id"]}

    async def erase_person(self, ctx: Context, person_id: str) -> dict[str, Any]:
        """Right to be forgotten: destroy the key; the events stay (counts too), their identity is gone."""
        self._staff_only(ctx, "erasing a person")
        # By any of the human's records' ids: the surviving record (a registration merged into it named her too; its
        # erasure alone left her names and fiscal code readable and found, a DPO's review) and all merged into it.
        # Of the caller's city (another city's: as none) before it is locked; two erasures at once: one
        p = await checked_then_locked(
            lambda lock: repo.person(self.conn, person_id, caller=ctx.actor, lock=lock),
            lambda p: access.may_write_in_city(ctx.actor, p["city"], "person_id"),
        )
        if p["erased_at"] is not None:
            raise Conflict("person_id", "the person is already erased")
        # The same human's other records (registrations merged into this one) go too: each has its own key.
        others = []
        others_ids = await repo.merged_into(self.conn, p["person_id"])
        for other in others_ids:
            if (await repo.person(self.conn, other, resolve=False))["erased_at"] is None:
                await self._forget(other)
                others.append(ev.PersonErased(person_id=other, erased_on=ctx.today))
        await self._forget(p["person_id"])
        street_ids = await outreach_repo.street_persons_of(self.conn, [p["person_id"], *others_ids])
        for street_id in street_ids:
            await self.keys.erase(self.conn, street_id)  # the nickname the units gave them (#19) goes too
            await outreach_repo.forget_nickname(self.conn, street_id)  # and its lookup hash, as for a street person
        # Appointments still to come are cancelled by the service (no one may name the person to keep them, nor be
        # reminded of them); those past stay as they were, outcome and all, for the reports.
        reason = oev.AppointmentCancellation.BY_OPERATOR
        cancelled = await outreach_repo.cancel_coming_appointments(
            self.conn, [p["person_id"], *others_ids], street_ids, clock.now(), reason.value
        )
        cancellations = [
            oev.AppointmentCancelled(appointment_id=a, reason=reason, cancelled_on=ctx.today) for a in cancelled
        ]
        # What partners sealed of this person to intake's inbound key stays on `lgnet.partner.inbound.<city>`: retire
        # the key now, so that its private half is destroyed after the grace period (credentials.rotate_inbound_keys).
        await credentials.retire_inbound_key(self.conn)
        await self.emit(ctx, ev.PersonErased(person_id=p["person_id"], erased_on=ctx.today), *others, *cancellations)
        return {"person_id": p["person_id"], "erased_on": ctx.today.isoformat()}

    async def _forget(self, person_id: str) -> None:
        """One record's erasure in intake's tables: the key, the sealed identity and hashes, the stored answers'
        details, employment, their documents' hashes, and the person's vulnerabilities in their households' needs
        assessments."""
        await self.keys.erase(self.conn, person_id)
        await repo.erase(self.conn, person_id)
        await diary_store.forget_documents(self.conn, person_id)
        for a in await repo.assessments_of_households_of(self.conn, person_id):
            kept = needs.without_erased(a["body"], person_id, a["anyone_left"])
            await repo.replace_assessment(self.conn, a["case_id"], kept)

    async def read_person(self, ctx: Context, person_id: str) -> dict[str, Any]:
        access.in_a_city(ctx.actor)  # before the lookup: else its 403 and a 404 told which ids exist
        p = await self._own_registration(ctx, person_id, await repo.person(self.conn, person_id, caller=ctx.actor))
        serving = await repo.partners_serving(self.conn, p["person_id"]) if ctx.actor.role is Role.PARTNER else set()
        sharing = await repo.consent(self.conn, p["person_id"], ev.ConsentPurpose.PARTNER_SHARING.value)
        absent = NotFound("person_id", f"no person {person_id}")
        access.may_read_person(ctx.actor, p["city"], serving, sharing, absent, p["registered_by"])
        identity: dict[str, str | None] = {}
        for f, sealed in p["identity"].items():
            identity[f] = await self.keys.open(self.conn, Sealed(**sealed), f)
        return {
            "person_id": p["person_id"],
            "city": p["city"],
            # Kept in intake's table after erasure (minor or adult at later case openings), never given out then.
            "birth_date": p["birth_date"].isoformat() if p["erased_at"] is None else None,
            "sex": p["sex"],
            "nationality": p["nationality"],
            "third_country": p["third_country"],
            "languages": p["languages"],
            "literate": p["literate"],
            "erased": p["erased_at"] is not None,
            "identity": identity,
        }

    async def duplicates(self, ctx: Context) -> list[dict[str, Any]]:
        self._staff_only(ctx, "reviewing duplicates")
        return await repo.open_duplicate_flags(self.conn, ctx.city)

    async def record_consent(self, ctx: Context, c: cmd_in.ConsentReported) -> dict[str, Any]:
        inbound.check_dated(c.recorded_on, "recorded_on", ctx.today, self.earliest_date)
        p = await self._person_for_write(ctx, c.person_id)
        await repo.record_consent(self.conn, p["person_id"], c.purpose.value, c.granted, c.recorded_on)
        await self.emit(
            ctx,
            ev.ConsentRecorded(
                person_id=p["person_id"], purpose=c.purpose, granted=c.granted, recorded_on=c.recorded_on
            ),
        )
        return {"person_id": p["person_id"], "purpose": c.purpose.value, "granted": c.granted}

    async def record_employment(self, ctx: Context, c: cmd_in.EmploymentReported) -> dict[str, Any]:
        inbound.check_dated(c.as_of, "as_of", ctx.today, self.earliest_date)
        if c.case_id is not None:
            await self._case_for_write(ctx, c.case_id)
        p = await self._person_for_write(ctx, c.person_id)
        # Her own household's case (any of her records', now or before): another's took her status as its member's
        if c.case_id is not None and c.case_id not in {
            cid for cid, _ in await repo.cases_of_person(self.conn, p["person_id"])
        }:
            raise ContractError("case_id", "is not a case of a household the person belongs or belonged to")
        await repo.record_employment(self.conn, p["person_id"], c.status.value, c.as_of, c.case_id)
        await self.emit(
            ctx,
            ev.EmploymentRecorded(person_id=p["person_id"], case_id=c.case_id, status=c.status, as_of=c.as_of),
        )
        return {"person_id": p["person_id"], "status": c.status.value, "as_of": c.as_of.isoformat()}

    # ------------------------------------------------------------ households and referrals

    async def form_household(self, ctx: Context, c: cmd_in.HouseholdFormationSubmitted) -> dict[str, Any]:
        access.may_write_in_city(ctx.actor, ctx.city)
        if await repo.household_exists(self.conn, c.household_id):
            raise await self.taken(ctx, "household_id", c.household_id, f"household {c.household_id} already exists")
        inbound.check_household(c)
        members: list[str] = []
        for i, pid in enumerate(c.member_ids):
            p = await self._person_for_write(ctx, pid, f"member_ids.{i}")
            if p["person_id"] in members:  # two ids of one person (one merged into the other): a member given twice
                first = c.member_ids[members.index(p["person_id"])]
                raise Conflict(f"member_ids.{i}", f"is the same person as {first}, already a member")
            members.append(p["person_id"])
        reference = members[c.member_ids.index(c.reference_person_id)]
        await repo.insert_household(self.conn, c.household_id, ctx.city, reference, ctx.actor.id, members, ctx.today)
        await self.emit(
            ctx,
            ev.HouseholdFormed(
                household_id=c.household_id, city=ctx.city, reference_person_id=reference, member_ids=members
            ),
        )
        return {"household_id": c.household_id, "member_ids": members}

    async def change_household(self, ctx: Context, c: cmd_in.HouseholdMemberChangeSubmitted) -> dict[str, Any]:
        inbound.check_dated(c.on, "on", ctx.today, self.earliest_date)
        # Locked: two changes of the members at once (one person joining twice) each see the other's.
        h = await self._household_for_write(ctx, c.household_id, lock=True)
        members = await repo.current_members(self.conn, c.household_id)
        if c.change == "joined":  # a partner brings in only a person of its own
            p = await self._person_for_write(ctx, c.person_id)
        else:
            p = await self._member_named(ctx, c.person_id, members)
        if c.change == "joined":
            if p["person_id"] in members:
                raise Conflict("person_id", "is already a member of the household")
            _, left = await repo.membership_days(self.conn, c.household_id, p["person_id"])
            if left is not None and c.on < left:  # the memberships would overlap
                raise ContractError("on", f"is before the person last left the household ({left.isoformat()})")
            await repo.member_joined(self.conn, c.household_id, p["person_id"], c.on, c.reason)
            event: Event = ev.HouseholdMemberJoined(
                household_id=c.household_id,
                person_id=p["person_id"],
                reason=c.reason,
                on=c.on,
                minor_in_cases={
                    case_id: people.is_minor(p["birth_date"], opened_on)
                    for case_id, opened_on in await repo.cases_of_household(self.conn, c.household_id, since=c.on)
                },
            )
        else:
            if p["person_id"] not in members:
                raise Conflict("person_id", "is not a member of the household")
            households.check_may_leave(p["person_id"], h["reference_person_id"])
            joined, _ = await repo.membership_days(self.conn, c.household_id, p["person_id"])
            households.check_member_on(c.on, joined)  # the membership would end before it began
            replaced = await repo.replaced_as_reference(self.conn, c.household_id, p["person_id"])
            households.check_leaves_after_replaced(c.on, replaced)
            await repo.member_left(self.conn, c.household_id, p["person_id"], c.on)
            event = ev.HouseholdMemberLeft(
                household_id=c.household_id, person_id=p["person_id"], reason=c.reason, on=c.on
            )
        await self.emit(ctx, event)
        return {"household_id": c.household_id, "person_id": p["person_id"], "change": c.change}

    async def change_reference_person(
        self, ctx: Context, c: cmd_in.HouseholdReferencePersonChangeSubmitted
    ) -> dict[str, Any]:
        """Another current member named the household's reference person (hers moved out, separated, died): whoever
        may change the household's members may. The former one stays a member, and may then leave."""
        inbound.check_dated(c.on, "on", ctx.today, self.earliest_date)
        # Locked: a member leaving and a change of reference person at once each see the other's
        h = await self._household_for_write(ctx, c.household_id, lock=True)
        members = await repo.current_members(self.conn, c.household_id)
        p = await self._member_named(ctx, c.person_id, members)
        joined, _ = await repo.membership_days(self.conn, c.household_id, p["person_id"])
        previous = h["reference_person_id"]
        since = await repo.reference_since(self.conn, c.household_id)
        households.check_new_reference(p["person_id"], previous, members, c.on, joined, since)
        await repo.set_reference_person(self.conn, c.household_id, p["person_id"], previous, c.reason, c.on)
        await self.emit(
            ctx,
            ev.HouseholdReferencePersonChanged(
                household_id=c.household_id, person_id=p["person_id"], previous_person_id=previous, reason=c.reason,
                on=c.on,
            ),
        )  # fmt: skip
        return {"household_id": c.household_id, "person_id": p["person_id"], "previous_person_id": previous}

    async def receive_referral(self, ctx: Context, c: cmd_in.ReferralSubmitted) -> dict[str, Any]:
        h = await self._household_for_write(ctx, c.household_id)
        if await repo.referral(self.conn, c.referral_id) is not None:
            raise await self.taken(ctx, "referral_id", c.referral_id, f"referral {c.referral_id} already exists")
        people.check_pseudonymous_id(c.referral_id, "referral_id")
        inbound.check_referrer(c)
        inbound.check_not_future(c.received_on, ctx.today, "received_on")
        born = await self._reference_born(h, c.received_on)
        cases.check_within_programme(c.received_on, "received_on", self.earliest_date, born)
        await repo.insert_referral(self.conn, {**c.model_dump(), "source": c.source.value, "city": h["city"]})
        await self.emit(
            ctx,
            ev.ReferralReceived(
                referral_id=c.referral_id,
                household_id=c.household_id,
                source=c.source,
                referrer=c.referrer,
                received_on=c.received_on,
            ),
        )
        return {"referral_id": c.referral_id}

    async def record_referral_outcome(
        self, ctx: Context, referral_id: str, c: cmd.RecordReferralOutcome
    ) -> dict[str, Any]:
        absent = NotFound("referral_id", f"no referral {referral_id}")
        r = access.of_city(await repo.referral(self.conn, referral_id), ctx.actor, absent)
        await self._household_for_write(ctx, r["household_id"], absent)
        # An open case of the referral's household (it named any id, a closed case too)
        if c.case_id is not None and (await self._case_for_write(ctx, c.case_id))["household_id"] != r["household_id"]:
            raise ContractError("case_id", "is not a case of the referral's household")
        await repo.set_referral_outcome(self.conn, referral_id, c.outcome, c.case_id)
        await self.emit(ctx, ev.ReferralOutcomeRecorded(referral_id=referral_id, outcome=c.outcome, case_id=c.case_id))
        return {"referral_id": referral_id, "outcome": c.outcome}

    # ------------------------------------------------------------ cases

    async def open_case(self, ctx: Context, c: cmd.OpenCase | cmd_in.CaseOpeningSubmitted) -> dict[str, Any]:
        # Locked: two openings for the household at once each see the case the other opened (one per area)
        h = await self._household_for_write(ctx, c.household_id, lock=True, rule=access.may_open_case)
        partner = ctx.actor.id if ctx.actor.role is Role.PARTNER else getattr(c, "partner", None)
        if ctx.actor.role is Role.PARTNER and getattr(c, "partner", None) not in (None, ctx.actor.id):
            raise Forbidden("partner", "a partner can only open cases assigned to itself")
        if partner is None:
            raise ContractError("partner", "staff must name the partner the case is assigned to")
        await self._partner_of_city(partner, h["city"], "partner")
        if await repo.case_exists(self.conn, c.case_id):
            raise await self.taken(ctx, "case_id", c.case_id, f"case {c.case_id} already exists")
        people.check_pseudonymous_id(c.case_id, "case_id")
        inbound.check_not_future(c.opened_on, ctx.today, "opened_on")
        members_born = await repo.members_born(self.conn, c.household_id, c.opened_on)
        born = dict(members_born).get(h["reference_person_id"])
        cases.check_within_programme(c.opened_on, "opened_on", self.earliest_date, born)
        if other := await repo.open_case_in_area(self.conn, c.household_id, c.action_area.value):
            raise Conflict("household_id", f"already has open case {other} in {c.action_area.value}")
        await repo.insert_case(
            self.conn,
            {
                "case_id": c.case_id,
                "household_id": c.household_id,
                "city": h["city"],
                "action_area": c.action_area.value,
                "channel": c.channel.value,
                "partner": partner,
                "opened_on": c.opened_on,
                "housing_need": c.housing_need,
            },
        )
        events: list[Event] = [
            ev.CaseOpened(
                case_id=c.case_id,
                household_id=c.household_id,
                city=h["city"],
                action_area=c.action_area,
                channel=c.channel,
                partner=partner,
                opened_on=c.opened_on,
                housing_need=c.housing_need,
                minors={pid: people.is_minor(born, c.opened_on) for pid, born in members_born},
            )
        ]
        if c.referral_id is not None:
            r = await repo.referral(self.conn, c.referral_id)
            if r is None or r["household_id"] != c.household_id:
                raise ContractError("referral_id", "no referral of this household with this id")
            await repo.set_referral_outcome(self.conn, c.referral_id, "taken_in_charge", c.case_id)
            events.append(
                ev.ReferralOutcomeRecorded(referral_id=c.referral_id, outcome="taken_in_charge", case_id=c.case_id)
            )
        await self.emit(ctx, *events)
        return {"case_id": c.case_id, "partner": partner}

    async def assess_needs(self, ctx: Context, c: cmd_in.NeedsAssessmentSubmitted) -> dict[str, Any]:
        row = await self._case_for_write(ctx, c.case_id)
        case = repo.case_state(row)
        cases.check_dated_after_opening(case, c.assessed_on, "assessed_on", ctx.today, self.earliest_date)
        members = [pid for pid, _ in await repo.members_born(self.conn, row["household_id"], c.assessed_on)]
        erased = await repo.erased_among(self.conn, members)
        by_person = await self._members_named(ctx, c.vulnerabilities_by_person, members)
        whose = needs.vulnerabilities_by_person(members, by_person, c.vulnerabilities, erased)
        # A submission replaces only what its submitter may see (`needs.as_seen_by`): the vulnerabilities of a member
        # hidden from it stay as recorded, in intake and in the fact (docs/partners.md, "Needs assessments")
        hidden = await self._hidden_from(ctx, [pid for pid in members if pid not in erased])
        named = by_person.keys() | whose.keys()
        kept = needs.kept_hidden(await repo.assessment(self.conn, c.case_id), members, hidden, named)
        whose = dict(sorted((whose | kept).items()))
        body = c.model_dump(mode="json") | {"vulnerabilities_by_person": by_person | kept}
        await repo.save_assessment(self.conn, c.case_id, body, c.assessed_on)
        facts = c.model_dump(exclude={"vulnerabilities", "vulnerabilities_by_person"})
        union = sorted({v for codes in whose.values() for v in codes})
        await self.emit(
            ctx,
            ev.NeedsAssessed(
                household_id=row["household_id"], vulnerabilities=union, vulnerabilities_by_person=whose, **facts
            ),
        )
        return {"case_id": c.case_id}

    async def agree_plan(self, ctx: Context, c: cmd_in.PlanSubmitted) -> dict[str, Any]:
        case = repo.case_state(await self._case_for_write(ctx, c.case_id))
        cases.check_dated_after_opening(case, c.agreed_on, "agreed_on", ctx.today, self.earliest_date)
        people.check_pseudonymous_id(c.plan_id, "plan_id")
        if await repo.plan(self.conn, c.case_id, c.plan_id) is not None:
            raise Conflict("plan_id", f"plan {c.plan_id} already agreed for this case")
        await repo.save_plan(self.conn, c.case_id, c.plan_id, dict.fromkeys(c.objectives, "open"), c.agreed_on)
        await self.emit(
            ctx,
            ev.IndividualPlanAgreed(
                case_id=c.case_id, plan_id=c.plan_id, objectives=c.objectives, agreed_on=c.agreed_on
            ),
        )
        return {"case_id": c.case_id, "plan_id": c.plan_id}

    async def update_objective(self, ctx: Context, c: cmd_in.PlanObjectiveUpdateSubmitted) -> dict[str, Any]:
        # A step of the open case like the others, once it happened (none on a closed case, none dated 2099)
        case = repo.case_state(await self._case_for_write(ctx, c.case_id))
        cases.check_dated_after_opening(case, c.on, "on", ctx.today, self.earliest_date)
        plan = await repo.plan(self.conn, c.case_id, c.plan_id)
        if plan is None:
            raise NotFound("plan_id", f"no plan {c.plan_id} for this case")
        if c.on < plan["agreed_on"]:
            raise ContractError("on", "is before the plan was agreed")
        objectives = dict(plan["objectives"])
        if c.objective not in objectives:
            raise ContractError("objective", "is not an objective of this plan")
        objectives[c.objective] = c.status
        await repo.save_plan(self.conn, c.case_id, c.plan_id, objectives, plan["agreed_on"])
        await self.emit(
            ctx,
            ev.PlanObjectiveUpdated(
                case_id=c.case_id, plan_id=c.plan_id, objective=c.objective, status=c.status, on=c.on
            ),
        )
        return {"case_id": c.case_id, "plan_id": c.plan_id, "objectives": objectives}

    async def transfer_case(self, ctx: Context, case_id: str, c: cmd.TransferCase) -> dict[str, Any]:
        row = await self._case_for_write(ctx, case_id)
        case = repo.case_state(row)
        cases.check_transfer(case, c.to_partner, c.on, ctx.today, self.earliest_date)
        await self._partner_of_city(c.to_partner, case.city, "to_partner")
        reference = (await repo.household(self.conn, row["household_id"]))["reference_person_id"]
        if not await repo.consent(self.conn, reference, ev.ConsentPurpose.PARTNER_SHARING.value):
            raise Forbidden("to_partner", "the household has not consented to sharing data with partners")
        await repo.transfer_case(self.conn, case_id, c.to_partner, c.on)
        await self.emit(
            ctx,
            ev.CaseTransferred(case_id=case_id, from_partner=case.partner, to_partner=c.to_partner, on=c.on),
        )
        return {"case_id": case_id, "partner": c.to_partner}

    async def close_case(self, ctx: Context, c: cmd_in.CaseClosureSubmitted) -> dict[str, Any]:
        case = repo.case_state(await self._case_for_write(ctx, c.case_id))
        cases.check_close(case, c.closed_on, ctx.today, self.earliest_date)
        await repo.close_case(self.conn, c.case_id, c.outcome.value, c.closed_on)
        await self.emit(ctx, ev.CaseClosed(case_id=c.case_id, outcome=c.outcome, closed_on=c.closed_on))
        return {"case_id": c.case_id, "outcome": c.outcome.value}

    async def read_case(self, ctx: Context, case_id: str) -> dict[str, Any]:
        row = await repo.case_row(self.conn, case_id, ctx.actor)
        access.may_act_on_case(ctx.actor, row["city"], row["partner"], NotFound("case_id", f"no case {case_id}"))
        members = await repo.current_members(self.conn, row["household_id"])
        return {
            **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()},
            "member_ids": members,
        }

    async def partners(self, ctx: Context, city: str | None) -> list[dict[str, Any]]:
        """The city's partner organisations by name (organisations, not persons): whom a case may be assigned or
        transferred to. Anyone of the city reads them; the national role names the city."""
        city = city or ctx.actor.city
        if city is None:
            raise ContractError("query.city", "name the city (the national role reads any city's partners)")
        may_read_city(ctx.actor, city, "query.city")
        return await repo.partners(self.conn, city)

    # ------------------------------------------------------------ helpers

    async def _reference_born(self, household: dict[str, Any], on: date) -> date | None:
        """The birth date of the household's reference person, if a member on `on` (None when not known)."""
        members = dict(await repo.members_born(self.conn, household["household_id"], on))
        return members.get(household["reference_person_id"])

    def _staff_only(self, ctx: Context, what: str) -> None:
        if ctx.actor.role is not Role.STAFF:
            raise Forbidden("", f"{what} is for the city's staff")

    async def _person_in_city(self, ctx: Context, person_id: str, field: str, lock: bool = False) -> dict[str, Any]:
        try:
            p = await repo.person(self.conn, person_id, caller=ctx.actor, lock=lock)
        except NotFound as absent:  # another city's person too (`Elsewhere`), said as one that exists nowhere
            raise type(absent)(field, f"no person {person_id}") from None
        access.may_write_in_city(ctx.actor, p["city"], field)
        if p["erased_at"] is not None:
            raise Conflict(field, "the person was erased")
        return p

    async def _person_named(self, ctx: Context, person_id: str, field: str, lock: bool = False) -> dict[str, Any]:
        """The record the caller acts on by the id it named: the person on file (following merges), or a partner's
        own registration merged into a record it has no hand in (`_own_registration`)."""
        p = await self._person_in_city(ctx, person_id, field, lock)
        return await self._own_registration(ctx, person_id, p, lock)

    async def _own_registration(
        self, ctx: Context, named: str, p: dict[str, Any], lock: bool = False
    ) -> dict[str, Any]:
        """`p`, the person on file that the id `named` leads to — or, to a partner that registered `named` and has no
        hand in `p` (another party's record of the person, merged by the fiscal code or by the city's staff), its own
        registration (`access.on_own_registration`). One human all the same: the merge stands, for the city's staff
        and reports (docs/partners.md, "What is not yours")."""
        if ctx.actor.role is not Role.PARTNER or p["person_id"] == named:
            return p
        # Hers to know of when it registered or serves her (`same_as` named her to it)
        theirs = await self._partner_refusal(ctx, p["person_id"], p) is not NOT_THEIRS
        own = await repo.person(self.conn, named, resolve=False, caller=ctx.actor, lock=lock)
        return own if access.on_own_registration(ctx.actor, own["registered_by"], theirs) else p

    async def _member_named(
        self, ctx: Context, person_id: str, members: Collection[str], field: str = "person_id"
    ) -> dict[str, Any]:
        """A current member of a household by the id named: a registration merged into another record is a member
        under its own id when the household was formed with it (a partner's own registration: `_own_registration`)."""
        if person_id in members:
            p = await repo.person(self.conn, person_id, resolve=False, caller=ctx.actor)
            if p["erased_at"] is not None:
                raise Conflict(field, "the person was erased")
            return p
        return await self._person_named(ctx, person_id, field)

    async def _hidden_from(self, ctx: Context, members: Sequence[str]) -> set[str]:
        """The members the caller may not read (`read_person` refuses them): what the cartella hides from it."""
        if ctx.actor.role is Role.STAFF:
            return set()
        hidden = set()
        for pid in members:
            try:
                await self.read_person(ctx, pid)
            except (Forbidden, NotFound):
                hidden.add(pid)
        return hidden

    async def _members_named(
        self, ctx: Context, by_person: dict[str, list[str]], members: Sequence[str]
    ) -> dict[str, list[str]]:
        """`by_person` keyed by the members on file: an id merged into a member's is hers, as in `member_ids` (two ids
        of one member: a conflict, as a member given twice). Any other id is left as it is (not a member: refused by
        `needs`, whether or not it names a person the caller may know of)."""
        named: dict[str, list[str]] = {}
        given: dict[str, str] = {}
        for pid in sorted(by_person):
            member = pid
            if pid not in members:
                with contextlib.suppress(NotFound):  # no person (of this city): not a member, refused below
                    member = (await repo.person(self.conn, pid, caller=ctx.actor))["person_id"]
                member = member if member in members else pid
            if member in named:
                raise Conflict(f"vulnerabilities_by_person.{pid}", f"is the same person as {given[member]}")
            named[member], given[member] = by_person[pid], pid
        return named

    async def _person_for_write(
        self, ctx: Context, person_id: str, field: str = "person_id", lock: bool = False
    ) -> dict[str, Any]:
        """A partner writes a person's data while it has an open case on the person's household, or — while no
        partner has one — when it registered the person on file itself (before the case). A registration of its own
        merged into another party's record of the person (the same fiscal code) gives it nothing over her (anyone
        knowing a fiscal code could otherwise take the person on file over; the city's staff assign her case): it
        works on its own registration instead (`_own_registration`)."""
        p = await self._person_named(ctx, person_id, field)
        await self._partner_may_write(ctx, p, field, person_id)
        # Locked once the caller may (`lgnet_shared.db.checked_then_locked`); checked again if she changed meanwhile
        if lock:
            locked = await self._person_named(ctx, person_id, field, lock=True)
            if locked != p:
                await self._partner_may_write(ctx, locked, field, person_id)
            p = locked
        return p

    async def _partner_may_write(self, ctx: Context, p: dict[str, Any], field: str, named: str) -> None:
        """`named`: the id the caller gave (a merged record's is answered as such, never the surviving one's)."""
        if ctx.actor.role is Role.PARTNER and (refused := await self._partner_refusal(ctx, p["person_id"], p)):
            if refused is NOT_THEIRS:  # a person it neither serves nor registered: as an id that exists nowhere
                raise access.not_theirs(NotFound(field, f"no person {named}"))
            raise Forbidden(field, refused)

    async def _partner_refusal(self, ctx: Context, person_id: str, p: dict[str, Any] | None = None) -> str | None:
        """Why the partner may not write the person on file (`person_id`, not merged), or None when it may:
        `NOT_THEIRS` when it neither serves nor registered her (it is told nothing of her)."""
        serving = await repo.partners_serving(self.conn, person_id)
        if ctx.actor.id in serving:
            return None
        if (p or await repo.person(self.conn, person_id))["registered_by"] != ctx.actor.id:
            return NOT_THEIRS
        if serving:
            return "the person's case is assigned to another partner"
        return None

    async def _household_for_write(
        self,
        ctx: Context,
        household_id: str,
        absent: NotFound | None = None,
        lock: bool = False,
        rule: Callable[..., None] = access.may_act_on_household,
    ) -> dict[str, Any]:
        """The household, with the partners of its open cases, checked by `rule` (acting on it, or opening a case
        on it) before it is `lock`ed (`lgnet_shared.db.checked_then_locked`); checked again once locked, with those
        partners as they are then (a case opened meanwhile: openings lock the household too). `absent`: what a
        partner with no hand in it is answered (default: the household as an unknown id)."""
        absent = absent or NotFound("household_id", f"no household {household_id}")
        h, partners = await repo.household_and_partners(self.conn, household_id, ctx.actor)
        rule(ctx.actor, h["city"], h["created_by"], partners, absent)
        if lock:
            h = await repo.household(self.conn, household_id, lock=True)
            partners = await repo.open_case_partners(self.conn, household_id)
            rule(ctx.actor, h["city"], h["created_by"], partners, absent)
        return h

    async def _case_for_write(self, ctx: Context, case_id: str) -> dict[str, Any]:
        """The case, open, locked: two changes at once (two closings, two objectives of a plan, a closing and an
        employment status naming the case) each see the other's. A closed case takes nothing (`cases.check_open`)."""

        def check(row: dict[str, Any]) -> None:
            access.may_act_on_case(ctx.actor, row["city"], row["partner"], NotFound("case_id", f"no case {case_id}"))
            cases.check_open(repo.case_state(row))

        return await checked_then_locked(lambda lock: repo.case_row(self.conn, case_id, ctx.actor, lock=lock), check)

    async def _partner_of_city(self, partner: str, city: str, field: str) -> None:
        """A partner of `city` that may be assigned work: another city's is answered as an unknown one (another city's
        objects are not the caller's to know of: docs/partners.md), an offboarded one is refused: nobody acts for it."""
        p = await repo.partner(self.conn, partner)
        if p is None or p["city"] != city:
            raise NotFound(field, f"no partner {partner}")
        if p["offboarded"]:
            reason = f"partner {partner} is offboarded (its credentials are revoked): it takes no work"
            raise ContractError(field, reason)
