"""What the partner gatekeeper (gatekeeper.py) does with partners' outreach requests (issue #19): the same use cases
as the HTTP routes (service_layer/outreach.py), the nickname opened from HPKE like a registration's identity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lgnet_shared.db import Conn
from lgnet_shared.errors import ContractError, from_pydantic
from lgnet_shared.events import Event
from lgnet_shared.events import outreach as inbound
from lgnet_shared.events.types import Part
from pydantic import ValidationError

from lgnet_intake.domain import outreach as rules
from lgnet_intake.service_layer import outreach as uc
from lgnet_intake.service_layer.handlers import Context, Intake

UseCase = Callable[[Intake, Context, Any], Awaitable[dict[str, Any]]]
OpenIdentity = Callable[[Conn, Part], Awaitable[dict[str, str]]]


def use_cases(open_identity: OpenIdentity, nickname_secret: bytes) -> dict[type[Event], UseCase]:
    def outreach(intake: Intake) -> uc.Outreach:
        return uc.Outreach(intake, nickname_secret)

    async def contact(intake: Intake, ctx: Context, e: inbound.StreetContactSubmitted) -> dict[str, Any]:
        opened = await open_identity(intake.conn, e.identity)
        nickname = opened.get("nickname")
        try:
            command = uc.RecordStreetContact(**e.model_dump(exclude={"identity"}), nickname=nickname)
            if nickname is not None:
                rules.nickname_key(nickname)  # checked here, so a refusal names the sealed identity's field
        except ValidationError as exc:  # an opened nickname too long
            raise from_pydantic(exc, "identity") from None
        except ContractError as exc:  # a nickname of spaces only
            raise ContractError(f"identity.{exc.field}", exc.reason) from None
        return await outreach(intake).record_contact(ctx, command)

    async def link(intake: Intake, ctx: Context, e: inbound.StreetContactLinkSubmitted) -> dict[str, Any]:
        command = uc.LinkStreetContact(person_id=e.person_id, linked_on=e.linked_on, case_id=e.case_id)
        return await outreach(intake).link_contact(ctx, e.contact_id, command)

    return {
        inbound.OutingSubmitted: lambda i, c, e: outreach(i).record_outing(c, e),
        inbound.StreetContactSubmitted: contact,
        inbound.StreetContactLinkSubmitted: link,
        inbound.AppointmentBookingSubmitted: lambda i, c, e: outreach(i).book(c, e),
        inbound.AppointmentChangeSubmitted: lambda i, c, e: outreach(i).change(c, e),
    }
