"""Base of the event catalogue: one pydantic model per event type and version, registered by `@event`.

A model declares its CloudEvents type, its version, and which field is the aggregate id (the Kafka key). The
topic follows from the type's service segment (`lgnet.housing.*` → the housing topic). Identifying personal data
is never a plain field: it is a `Sealed` value, encrypted with the person's key (see lgnet_shared.pii).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from lgnet_shared.sealed import Sealed as Sealed  # re-exported: the catalogue's events carry it

TYPE_PREFIX = "lgnet."


class Event(BaseModel):
    """Payload (`data`) of one event type and version. Immutable; unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ClassVar[str]
    version: ClassVar[int]
    key_field: ClassVar[str]
    topic: ClassVar[str]

    def aggregate_id(self) -> str:
        return str(getattr(self, self.key_field))

    @classmethod
    def dataschema(cls) -> str:
        return dataschema(cls.type, cls.version)


def dataschema(event_type: str, version: int) -> str:
    return f"urn:lgnet:schema:{event_type}:v{version}"


@dataclass(frozen=True)
class Registered:
    model: type[Event]
    service: str


# (type, version) -> model. Filled at import time by @event; lgnet_shared.events imports every module.
REGISTRY: dict[tuple[str, int], Registered] = {}
_VERSIONS: dict[str, list[int]] = {}  # type -> its versions, ascending (decoding asks on every record)
# type -> the logical topics its versions are published on (each model's `topic`): what `carried_on` answers.
_CARRIED_ON: dict[str, frozenset[str]] = {}
E = TypeVar("E", bound=type[Event])


def event(event_type: str, *, version: int = 1, key: str, topic: str | None = None) -> Callable[[E], E]:
    """Register a model as event `event_type` (e.g. 'lgnet.intake.case_opened') at `version`.

    `topic` is the logical topic (lgnet_shared.topics); by default the emitting service's fact topic.
    """
    if not event_type.startswith(TYPE_PREFIX) or event_type.count(".") < 2:
        raise ValueError(f"event type {event_type!r} must look like 'lgnet.<service>.<name>'")

    def register(cls: E) -> E:
        if key not in cls.__pydantic_fields__:
            raise ValueError(f"{cls.__name__}: key field {key!r} is not a field")
        if (event_type, version) in REGISTRY:
            raise ValueError(f"{event_type} v{version} registered twice")
        cls.type, cls.version, cls.key_field = event_type, version, key
        cls.topic = topic or default_topic(event_type)
        REGISTRY[(event_type, version)] = Registered(cls, event_type.split(".")[1])
        _CARRIED_ON[event_type] = _CARRIED_ON.get(event_type, frozenset()) | {cls.topic}
        _VERSIONS.setdefault(event_type, []).append(version)
        _VERSIONS[event_type].sort()
        return cls

    return register


def default_topic(event_type: str) -> str:
    """The fact topic of the service a type names ('lgnet.housing.lease_signed' -> 'housing.events')."""
    return f"{event_type.split('.')[1]}.events"


def carried_on(event_type: str) -> frozenset[str]:
    """The logical topics a fact of `event_type` may be found on: the topics its registered versions are published
    on (an old version's too: `needs_assessed` v1 on intake.events, v2 on intake.special), and for a type the
    catalogue does not know, its service's fact topic (a newer producer's type: still only its own service's).
    The one rule of which types each topic carries (docs/operators.md "Fact signatures"); with the topic registry's
    writers (which service's key may sign a fact on each topic), what `fact_signing` checks of every fact."""
    topics = _CARRIED_ON.get(event_type)
    if topics is not None:
        return topics
    if not event_type.startswith(TYPE_PREFIX) or event_type.count(".") < 2:
        return frozenset()
    return frozenset({default_topic(event_type)})


def versions(event_type: str) -> list[int]:
    return list(_VERSIONS.get(event_type, ()))


def latest(event_type: str) -> type[Event] | None:
    vs = _VERSIONS.get(event_type)  # not `versions`: no copy, on every record decoded
    return REGISTRY[(event_type, vs[-1])].model if vs else None


def service_of(event_type: str) -> str:
    return event_type.split(".")[1]


def event_types() -> list[str]:
    return sorted({t for (t, _) in REGISTRY})


JsonDict = dict[str, Any]
