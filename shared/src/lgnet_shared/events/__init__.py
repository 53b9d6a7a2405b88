"""The event catalogue: importing this package registers every event model."""

from lgnet_shared.events import civic, housing, intake, outreach, partner, payments, reporting
from lgnet_shared.events.base import REGISTRY, Event, Sealed, carried_on, event, event_types, latest, versions

__all__ = [
    "REGISTRY",
    "Event",
    "Sealed",
    "carried_on",
    "civic",
    "event",
    "event_types",
    "housing",
    "intake",
    "latest",
    "outreach",
    "partner",
    "payments",
    "reporting",
    "versions",
]
