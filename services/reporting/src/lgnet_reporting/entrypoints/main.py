"""Entry point of the reporting service: `lgnet-reporting` (configuration from the environment, see README).

Consumes every service's fact topic into the report tables (a national deployment sees every city: LGNET_CITY=
national), serves the reports (JSON, CSV, XLSX, PDF) and the dashboard, and publishes reports on reporting.events.
"""

from __future__ import annotations

from lgnet_shared.service import ConsumerSpec, Runtime, ServiceSpec, run

from lgnet_reporting import settings
from lgnet_reporting.adapters.schema import CONSUMER, MIGRATIONS
from lgnet_reporting.entrypoints import dashboard, http
from lgnet_reporting.service_layer import projector


def consumers(runtime: Runtime) -> list[ConsumerSpec]:
    # Declarable without a started runtime (AsyncAPI generation): uses nothing of `runtime`.
    name = CONSUMER.removeprefix("reporting.")
    return [ConsumerSpec(name=name, topics=list(projector.TOPICS), handlers=projector.handlers())]


SPEC = ServiceSpec(
    name="reporting",
    default_port=8004,
    variables=settings.VARIABLES,
    migrations=MIGRATIONS,
    consumers=consumers,
    routers=lambda runtime: [http.router(runtime), dashboard.router()],
    produces=["reporting.events"],
    serves_cities=False,  # the national aggregate is every city's, whichever deployment acts on their records
    admits_auditors=True,  # auditors read every report here (read-only, no drill-down); refused by every other service
)


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
