"""Entry point of the payments service: `lgnet-payments` (configuration from the environment, see README)."""

from __future__ import annotations

from lgnet_shared.service import ServiceSpec, run

SPEC = ServiceSpec(name="payments", default_port=8003, produces=["payments.events"])


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
