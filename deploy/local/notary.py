"""Run the notary locally next to the services: start | stop | status (the Makefile's `up`, `down`, `status`).

`lgnet-notary run` publishes signed checkpoints of every fact topic-partition on `lgnet.checkpoints` every
LGNET_NOTARY_EVERY seconds (default 60) and at once after every published report, and serves them with inclusion and
consistency proofs on LGNET_NOTARY_PORT (default 8007). It runs as its own Kafka principal, `notary.<deployment>`
(provisioned here: it reads the fact topics and alone may write the checkpoints), keeps its trees in .local/notary
so a restart reads only what is new, and signs with a key derived from the local master key unless LGNET_NOTARY_KEY
is set (docs/operators.md, "The notary").
"""

from __future__ import annotations

import os
import subprocess

from background import LOCAL, ROOT, Background, command_line

from services import master_key, provisioned


def notary_port() -> int:
    return int(os.environ.get("LGNET_NOTARY_PORT", 8007))


NOTARY = Background("notary", notary_port(), health="/health/live")
BIN = ROOT / ".venv" / "bin" / "lgnet-notary"


def env() -> dict[str, str]:
    from lgnet_shared.kafka_acls import Principal

    city = os.environ.get("LGNET_CITY", "national")  # the services' deployment (services.py)
    deployment = os.environ.get("LGNET_DEPLOYMENT") or city
    return {
        **os.environ,
        **provisioned({"notary": Principal.notary(deployment)})["notary"],
        "LGNET_CITY": city,
        "LGNET_MASTER_KEY": master_key(),
        "LGNET_NOTARY_STATE": str(LOCAL / "notary"),
    }


def verifier_key(environ: dict[str, str]) -> str:
    return subprocess.run([str(BIN), "key"], env=environ, capture_output=True, text=True, check=True).stdout.strip()


def start() -> int:
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        print("[notary] KAFKA_BOOTSTRAP_SERVERS is not set: run `make up`")
        return 2
    environ = env()
    every = os.environ.get("LGNET_NOTARY_EVERY", "60")
    argv = [str(BIN), "run", "--every", every, "--http-port", str(NOTARY.port)]
    # Its HTTP answers once it has caught up with the log: a long log read from offset 0 takes a while.
    if not NOTARY.start(argv, environ, timeout=300):
        return 1
    print(f"[notary] signed checkpoints every {every} s and after every report: {NOTARY.url}/checkpoints")
    print(f"[notary] its verifier key (auditors pin it; docs/reporting.md): {verifier_key(environ)}")
    return 0


def stop() -> int:
    NOTARY.stop()
    return 0


def status() -> int:
    print(NOTARY.status_line("checkpoints /checkpoints  "))
    return 0


if __name__ == "__main__":
    command_line(__doc__, start=start, stop=stop, status=status)
