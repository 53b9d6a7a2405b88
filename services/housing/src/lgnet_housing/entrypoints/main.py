"""Entry point of the housing service: `lgnet-housing` (configuration from the environment, see README)."""

from __future__ import annotations

from lgnet_shared.service import ServiceSpec, run

SPEC = ServiceSpec(name="housing", default_port=8002, produces=["housing.events"])


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
