"""Entry point of the reporting service: `lgnet-reporting` (configuration from the environment, see README)."""

from __future__ import annotations

from lgnet_shared.service import ServiceSpec, run

SPEC = ServiceSpec(name="reporting", default_port=8004, produces=["reporting.events"])


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
