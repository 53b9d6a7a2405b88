"""Errors that name the field at fault and the reason: what partners and operators see."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class ContractError(ValueError):
    """A record or request broke the contract. `field` is a dotted path ('data.birth_date'), '' for whole."""

    kind = "invalid"

    @classmethod
    def kinds(cls) -> set[str]:
        """The kinds of this error and of every subclass imported so far (a dead letter's `kind`, a metric's label)."""
        return {cls.kind}.union(*(sub.kinds() for sub in cls.__subclasses__()))

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field or '<record>'}: {reason}")
        self.field = field
        self.reason = reason
        self.also: tuple[ContractError, ...] = ()  # other rules the same input broke (`all_of`)

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "field": self.field, "reason": self.reason}

    def each(self) -> list[dict[str, str]]:
        """This error's field and reason, then those of the other rules broken with it (an HTTP problem's `errors`)."""
        return [{"field": e.field, "reason": e.reason} for e in (self, *self.also)]

    @staticmethod
    def all_of(errors: list[ContractError]) -> ContractError:
        """The first of several rules one input broke, carrying the others: said together, not one round each."""
        first = errors[0]
        first.also = tuple(errors[1:])
        return first


@contextlib.contextmanager
def noted(broken: list[ContractError]) -> Iterator[None]:
    """A rule's ContractError (and those it carries) kept in `broken` instead of raised, so that the next rule is
    checked too; `ContractError.all_of(broken)` then says them together (an HTTP problem's `errors`)."""
    try:
        yield
    except ContractError as e:
        broken.extend((e, *e.also))


class NotJson(ContractError):
    kind = "not_json"


class NotACloudEvent(ContractError):
    kind = "not_cloudevent"


class UnknownEventType(ContractError):
    kind = "unknown_type"


class InvalidEventData(ContractError):
    kind = "invalid_data"


class Unreadable(ContractError):
    """The Kafka client could not even hand the record out (codec, corrupt batch, header key not UTF-8)."""

    kind = "unreadable"


def pydantic_reason(msg: str) -> str:
    """A validation message as the reader should see it: a rule's own words, without pydantic's "Value error, " (it
    prefixes every ValueError a validator raises, which says nothing to a partner or a social worker)."""
    return msg.removeprefix("Value error, ")


def from_pydantic(exc: Any, prefix: str = "", cls: type[ContractError] = ContractError) -> ContractError:
    """The first pydantic validation error as a ContractError naming the field's dotted path, carrying the others
    (`also`: every field at fault is said at once)."""
    errors = []
    for e in exc.errors():
        path = ".".join(str(p) for p in e["loc"])
        errors.append(cls(f"{prefix}.{path}" if prefix and path else prefix or path, pydantic_reason(e["msg"])))
    return ContractError.all_of(errors)


class Unauthenticated(ContractError):
    kind = "unauthenticated"


class Forbidden(ContractError):
    kind = "forbidden"


class NotFound(ContractError):
    kind = "not_found"


class Conflict(ContractError):
    """The request contradicts what is already recorded (duplicate, wrong state, out of order)."""

    kind = "conflict"


class PreconditionFailed(ContractError):
    """The request's If-Match names a version that is no longer the recorded one: someone changed it since."""

    kind = "precondition_failed"


HTTP_STATUS = {"unauthenticated": 401, "forbidden": 403, "not_found": 404, "conflict": 409, "precondition_failed": 412}


def http_status(err: ContractError) -> int:
    return HTTP_STATUS.get(err.kind, 422)
