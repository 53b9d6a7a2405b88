"""Entry point of the payments service: `lgnet-payments` (configuration from the environment, see README)."""

from __future__ import annotations

from lgnet_shared.service import ServiceSpec, run

from lgnet_payments.adapters.schema import MIGRATIONS
from lgnet_payments.entrypoints import http
from lgnet_payments.entrypoints.consumers import consumers

SPEC = ServiceSpec(
    name="payments",
    default_port=8003,
    migrations=MIGRATIONS,
    consumers=consumers,
    routers=lambda runtime: [http.router(runtime)],
    produces=["payments.events"],
)


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
