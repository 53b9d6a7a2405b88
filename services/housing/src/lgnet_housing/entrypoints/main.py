"""Entry point of the housing service: `lgnet-housing` (configuration from the environment, see README)."""

from __future__ import annotations

from collections.abc import Sequence

from lgnet_shared.service import ConsumerSpec, Runtime, ServiceSpec, run

from lgnet_housing.adapters import read_log
from lgnet_housing.adapters.schema import MIGRATIONS
from lgnet_housing.entrypoints import http
from lgnet_housing.service_layer.intake_events import HANDLERS


def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
    """Declarable without a started runtime (AsyncAPI generation): the handlers only need their connection."""
    return [ConsumerSpec(name="intake", topics=["intake.events", "intake.special"], handlers=dict(HANDLERS))]


SPEC = ServiceSpec(
    name="housing",
    default_port=8002,
    migrations=[*MIGRATIONS, *read_log.MIGRATIONS],
    consumers=consumers,
    routers=lambda runtime: [http.router(runtime)],
    produces=["housing.events", "partner.reminders.{partner}"],
)


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
