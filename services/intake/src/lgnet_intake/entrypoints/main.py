"""Entry point of the intake service: `lgnet-intake` (configuration from the environment, see README)."""

from __future__ import annotations

from lgnet_shared.service import ServiceSpec, run

SPEC = ServiceSpec(name="intake", default_port=8001, produces=["intake.events"])


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
