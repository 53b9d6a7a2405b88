"""Entry point of the intake service: `lgnet-intake` (configuration from the environment, see README)."""

from __future__ import annotations

from lgnet_shared.service import Runtime, ServiceSpec, run

from lgnet_intake import settings
from lgnet_intake.adapters import diary, read_log
from lgnet_intake.adapters.schema import MIGRATIONS
from lgnet_intake.entrypoints import civic_http, folder, http, outreach_http, read_log_http
from lgnet_intake.entrypoints.gatekeeper import gatekeeper
from lgnet_intake.entrypoints.programme import preflight


def consumers(runtime: Runtime) -> list:  # type: ignore[type-arg]
    return [gatekeeper(runtime)]


SPEC = ServiceSpec(
    name="intake",
    default_port=8001,
    variables=settings.VARIABLES,
    # the desk's diary and documents, then the read log: separate, later lists
    migrations=[*MIGRATIONS, *diary.MIGRATIONS, *read_log.MIGRATIONS],
    consumers=consumers,
    routers=lambda runtime: [
        http.router(runtime),
        folder.router(runtime),
        civic_http.router(runtime),
        outreach_http.router(runtime),
        read_log_http.router(runtime),
    ],
    produces=["intake.events", "intake.special", "partner.rejections.{partner}", "partner.reminders.{partner}"],
    preflight=preflight,
)


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
