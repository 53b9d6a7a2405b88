"""Entry point of the intake service: `lgnet-intake` (configuration from the environment, see README)."""

from __future__ import annotations

import gc

from lgnet_shared.service import Runtime, ServiceSpec, run

from lgnet_intake.adapters import diary
from lgnet_intake.adapters.schema import MIGRATIONS
from lgnet_intake.entrypoints import civic_http, folder, http, outreach_http
from lgnet_intake.entrypoints.gatekeeper import gatekeeper


def consumers(runtime: Runtime) -> list:  # type: ignore[type-arg]
    return [gatekeeper(runtime)]


SPEC = ServiceSpec(
    name="intake",
    default_port=8001,
    migrations=[*MIGRATIONS, *diary.MIGRATIONS],  # the desk's diary and documents: a separate, later list
    consumers=consumers,
    routers=lambda runtime: [
        http.router(runtime),
        folder.router(runtime),
        civic_http.router(runtime),
        outreach_http.router(runtime),
    ],
    produces=["intake.events", "intake.special", "partner.rejections.{partner}", "partner.reminders.{partner}"],
)


# The cyclic collector's generations, for a process that holds a fetched batch in flight (hundreds of records, each
# a few dozen objects) while it works: with Python's default (a young collection every 700 allocations, an older
# one every 10 of those, a full one every 10 of the older) the batch was scanned again and again and promoted, and
# the full collections took 50-105 ms of CPU each, a pause in a partner's p99; the collector was about 0.1 ms of
# intake's CPU per event. With a young collection every 20,000 allocations most of a batch is freed by reference
# counting before any scan: 0.04 ms per event, the longest pause 15-22 ms (docs/benchmarks.md, "Intake: a partner's
# answer at a steady rate"). Start-up's own objects are frozen by Runtime.start.
GC_THRESHOLDS = (20_000, 20, 100)


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    run(SPEC)


if __name__ == "__main__":
    main()
