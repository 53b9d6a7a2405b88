"""Operators of the desk and the rules about them. Pure: no I/O.

An operator's identity on the services: a staff operator acts as their own staff actor in each service, so the services
attribute every action to them and their four-eyes rules see two different people. That actor id travels in clear in
every fact she causes (`recorded_by`, `booked_by`, …) and is never erased, so it is opaque: drawn by the desk when she
is added (`desk.op-` and 12 random hex digits, `new_staff_actor`) and stored with her, never derived from her username
(usually her name); one added before keeps `desk.<username>` (migration desk-7), which her facts already carry. A
partner's operator acts as the partner's actor (the services know a partner by its actor id, so its case-assignment
rules apply unchanged); the data-protection officer (`dpo`) has no service identity at all and reads only the desk's
access log.

An operator's code: who an appointment is with (intake's `operator`) and who went on an outing or ran a civic session
(`staff`, `facilitators`). Every operator who keeps an agenda (staff and cooperatives' operators: a cooperative's share
its actor, so the actor cannot tell them apart) has her own, drawn by the desk when she is added (`op-` and 12 random
hex digits, `new_operator_code`) and stored with her: the desk sends it, never her username, and names her by it on
its pages. It is not her actor: the actor is who acts (a principal with tokens, a cooperative's shared by its
operators), the code whose agenda it is; and one added before migration desk-9 keeps her username as her code, which
the appointments and outings already recorded carry (so intake's double-booking check still finds her future ones),
where her actor is `desk.<username>`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from lgnet_shared.pseudonymous import identifying

SERVICES = ("intake", "housing", "payments")
STAFF_ACTOR_PREFIX = "desk.op-"
# 6 random bytes, 12 hex digits: unique among a city's operators (a repeat is refused by the desk's table and by the
# services' `add_actor`), and a run of 12 letters and digits is none of what `identifying` recognises (a fiscal code has
# 16, an IBAN 15 or more, a mobile number 10 digits)
STAFF_ACTOR_BYTES = 6
OPERATOR_CODE_PREFIX = "op-"
# a drawn code in a service's text (a refusal naming the operator): not inside an actor id (`desk.op-…`)
_DRAWN_CODE = re.compile(r"(?<![\w.-])op-[0-9a-f]{12}(?![\w-])")


class OperatorRole(StrEnum):
    STAFF = "staff"
    PARTNER = "partner"
    DPO = "dpo"


@dataclass(frozen=True)
class Operator:
    username: str
    display_name: str
    role: OperatorRole
    city: str
    partner: str | None
    actor: str | None = None  # a staff operator's own actor on the services, as the desk stored it (None: not drawn)
    code: str | None = None  # who she is in the agendas and outings the services record (None: the DPO, or not drawn)

    @property
    def service_actor(self) -> str | None:
        """The actor id this operator has in every service (None: the DPO acts on no service)."""
        if self.role is OperatorRole.PARTNER:
            return self.partner
        if self.role is OperatorRole.STAFF:
            return self.actor
        return None

    def service_actor_name(self, partner_name: str | None = None) -> str:
        """The name the services show for `service_actor` when the desk creates it: a cooperative's actor is the
        organisation (its name, else its id), never the first of its operators to be added; staff are themselves."""
        if self.role is OperatorRole.PARTNER:
            return partner_name or self.partner or ""
        return self.display_name

    @property
    def reads_access_log(self) -> bool:
        return self.role is OperatorRole.DPO

    @property
    def keeps_agenda(self) -> bool:
        """She may be an appointment's operator, an outing's staff or a session's facilitator: she has a code."""
        return self.role is not OperatorRole.DPO


def opaque_id(prefix: str, draw: Callable[[int], str]) -> str:
    """`prefix` and `draw(STAFF_ACTOR_BYTES)` (`secrets.token_hex`), nothing of the operator it is for; drawn again in
    the unlikely case it would hold what the services refuse in an id (`identifying`)."""
    while identifying(drawn := prefix + draw(STAFF_ACTOR_BYTES)):
        pass
    return drawn


def new_staff_actor(draw: Callable[[int], str]) -> str:
    """A new staff operator's actor id: `desk.op-` and 12 hex digits."""
    return opaque_id(STAFF_ACTOR_PREFIX, draw)


def new_operator_code(draw: Callable[[int], str]) -> str:
    """A new operator's code: `op-` and 12 hex digits."""
    return opaque_id(OPERATOR_CODE_PREFIX, draw)


def drawn(op: Operator, draw: Callable[[int], str]) -> Operator:
    """A new operator as the desk stores her: her actor (staff) and her code (who keeps an agenda) drawn."""
    actor = new_staff_actor(draw) if op.role is OperatorRole.STAFF else None
    return replace(op, actor=actor, code=new_operator_code(draw) if op.keeps_agenda else None)


def codes_named(text: str, names: Mapping[str, str]) -> str:
    """A service's text (a refusal: "operator op-… is already booked") with each drawn code it holds said as the
    operator's name (`names`: by code); a code nobody has, or an old one (a username), as it is."""
    return _DRAWN_CODE.sub(lambda m: names.get(m.group(0), m.group(0)), text)


def check_new_operator(role: OperatorRole, partner: str | None, username: str = "") -> None:
    if role is OperatorRole.PARTNER and not partner:
        raise ValueError("partner: a partner's operator names the cooperative (--partner)")
    if role is not OperatorRole.PARTNER and partner:
        raise ValueError("partner: only partners' operators belong to a cooperative")
    if role is OperatorRole.STAFF and (what := identifying(username)):
        # her username stays in the desk (her code names her to the services) but is in its logs and access log
        raise ValueError(
            f"username: holds {what}: a staff operator's username is written in the desk's logs and access log;"
            " choose a username that holds no e-mail address, fiscal code or phone number"
        )


@dataclass(frozen=True)
class LockoutPolicy:
    """Failed logins, counted over the last `lock_for` (a sliding window) from the login attempts:

    - an account is locked **from one client address** after `max_failures` wrong passwords from it (since its last
      success there): whoever types wrong passwords at someone's account locks only their own address out of it, not
      the operator at hers (a hard lock of the account let anyone lock any operator out);
    - a client address is refused on every account after `client_max_failures` failures from it, whichever
      usernames (password spraying: one password tried on many accounts stayed under each account's lock)."""

    max_failures: int
    lock_for: timedelta
    client_max_failures: int = 20

    def since(self, now: datetime) -> datetime:
        return now - self.lock_for

    def account_locked(self, failures_from_client: int) -> bool:
        """`failures_from_client`: this account's failures from this address in the window, since its last success."""
        return failures_from_client >= self.max_failures

    def client_throttled(self, failures_from_client: int) -> bool:
        """`failures_from_client`: this address's failures in the window, on any username."""
        return failures_from_client >= self.client_max_failures


MIN_PASSWORD = 12


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")


def new_password_problem(new: str, again: str) -> tuple[str, str] | None:
    """What is wrong with a new password typed twice (its field, the reason), before the current one is checked."""
    if len(new) < MIN_PASSWORD:
        return "new_password", f"at least {MIN_PASSWORD} characters"
    if new != again:
        return "new_password_again", "the two new passwords differ"
    return None


def may_book_for(booker: Operator, operator: Operator) -> bool:
    """Whose agenda an operator may book into: a desk user of the same city who keeps an agenda (not the DPO); a
    cooperative's operator only its own cooperative's."""
    if operator.city != booker.city or not operator.keeps_agenda:
        return False
    return booker.role is not OperatorRole.PARTNER or operator.partner == booker.partner


def ids_in_the_log(actor: str | None, code: str | None) -> list[str]:
    """What stands for an operator in the services' facts, for the DPO's access review (who is `op-…`?): a staff
    operator's actor (`recorded_by`, `booked_by`) and her code (an appointment's operator, an outing's staff); a
    cooperative's operator acts as her cooperative, so her code only; the same value once (an old operator's)."""
    return [i for i in dict.fromkeys((actor, code)) if i]
