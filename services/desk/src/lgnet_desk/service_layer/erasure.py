"""A data subject's erasure (GDPR art. 17) asked of intake by the city's staff at the desk (domain/erasure.py): the
confirmation page's read of the subject, recorded as a view, and the erasure itself, recorded in the access log as
`erased` (once, whatever the form's resendings) or `refused`, the DPO's to read. Logs carry ids only."""

from __future__ import annotations

from typing import Any

from lgnet_shared import logs
from lgnet_shared.db import Conn

from lgnet_desk.adapters import store
from lgnet_desk.adapters.services import ServiceRefusal, Services, service_path
from lgnet_desk.domain import resubmission
from lgnet_desk.domain.erasure import CONFIRM_FIELD, PERSON, PURPOSE, REFUSED, Kind, confirmation_problem
from lgnet_desk.domain.operators import Operator
from lgnet_desk.service_layer import desk

log = logs.get_logger(__name__)


async def subject(conn: Conn, services: Services, op: Operator, kind: Kind, subject_id: str) -> Any:
    """What intake shows of the subject (the name or nickname the page asks to confirm), the view in the access log
    with the erasure's purpose (shown, or denied: the refusal raised on)."""
    path = service_path(kind.read, subject_id)
    return await desk.read_logged(conn, services, op, subject_id, path, kind.view, PURPOSE)


async def erase(
    conn: Conn, services: Services, op: Operator, kind: Kind, subject_id: str, form: dict[str, str]
) -> None:
    """Intake erases the subject, once the operator has typed its identifier (else FieldErrors at the field, nothing
    asked); the form's call key is the Idempotency-Key, so the form sent twice is one erasure, answered alike. A
    refusal of intake's is recorded and raised on (ServiceRefusal)."""
    if problem := confirmation_problem(form.get(CONFIRM_FIELD, ""), subject_id):
        raise desk.FieldErrors({CONFIRM_FIELD: problem})
    try:
        key = resubmission.call_key(form, "erasure")
        answer = await services.post("intake", service_path(kind.erase, subject_id), {}, key)
    except ServiceRefusal as r:
        await store.log_access(conn, op, subject_id, PURPOSE, kind.action, REFUSED)
        log.info("erasure refused", kind=kind.name, subject_id=subject_id, operator=op.username, status=r.status)
        raise
    # Logged under the person intake erased: by the id of a registration merged into another, the surviving record
    # (the id the DPO is given), as a view is (`desk.shown_as`).
    erased = desk.shown_as(answer, subject_id) if kind is PERSON else subject_id
    await store.log_erasure(conn, op, erased, PURPOSE, kind.action)
    log.info("erasure done", kind=kind.name, subject_id=erased, operator=op.username)
