"""Run the LgNet services locally as background processes: start | stop | status [SERVICE ...].

`start intake reporting` starts (and waits for) only those, `stop housing` stops only that one; without names, every
service. A city that runs only some services runs only those.

Each service that exists (services/<name>/ with an entry point) runs as `.venv/bin/lgnet-<name>` with logs in
.local/logs/<name>.log (JSON lines) and its pid in .local/run/<name>.pid. `start` waits for /health/ready.
Connection strings come from the environment (the Makefile loads .local/infra.env). A local master key for
personal-data encryption is generated once into .local/master.key unless LGNET_MASTER_KEY is set.

On a secured broker (KAFKA_SASL_USERNAME set: the admin's, from .local/infra.env) each service runs as its own
principal, `service.<deployment>.<service>`, with exactly the ACLs the topic registry derives for it: `start`
provisions it (lgnet_shared.kafka_admin) and keeps its password in .local/kafka/principals/ (mode 600).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from background import LOCAL, ROOT, Background, pid_of, readiness, status_line

if TYPE_CHECKING:
    from lgnet_shared.kafka_acls import Principal

PORTS = {"intake": 8001, "housing": 8002, "payments": 8003, "reporting": 8004}


def existing() -> list[str]:
    return [n for n in PORTS if (ROOT / "services" / n / "src" / f"lgnet_{n}" / "entrypoints" / "main.py").exists()]


def health(name: str) -> str:
    return f"http://127.0.0.1:{port(name)}/health/ready"


def ready(name: str) -> tuple[bool, str]:
    return readiness(health(name))


def port(name: str) -> int:
    return int(os.environ.get(f"LGNET_{name.upper()}_PORT", PORTS[name]))


def master_key() -> str:
    return local_key("LGNET_MASTER_KEY", "master.key")


def local_key(var: str, file: str) -> str:
    """The variable's value, else 32 random bytes (base64) generated once into .local/<file> (mode 600)."""
    if key := os.environ.get(var):
        return key
    path = LOCAL / file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def principals(names: list[str], city: str) -> dict[str, dict[str, str]]:
    """Each service's own Kafka credentials (KAFKA_SASL_USERNAME/PASSWORD), provisioned with the admin's."""
    from lgnet_shared import kafka_acls

    deployment = os.environ.get("LGNET_DEPLOYMENT") or city
    return provisioned({name: kafka_acls.Principal.service(deployment, name, city=city) for name in names})


def provisioned(wanted: dict[str, Principal]) -> dict[str, dict[str, str]]:
    """Credentials of each principal, provisioned with exactly its derived ACLs; a password is made once and kept
    in .local/kafka/principals (mode 600), so a restart logs in as before."""
    from lgnet_shared.kafka import KafkaSecurity
    from lgnet_shared.kafka_acls import new_password
    from lgnet_shared.kafka_admin import Admin

    admin_security = KafkaSecurity.from_env()
    if not admin_security.sasl_username:
        return {name: {} for name in wanted}  # an unsecured broker: every client is anonymous
    store = LOCAL / "kafka" / "principals"

    async def provision() -> dict[str, dict[str, str]]:
        out = {}
        async with Admin(
            os.environ["KAFKA_BOOTSTRAP_SERVERS"], admin_security, os.environ.get("LGNET_TOPIC_PREFIX", "")
        ) as admin:
            for name, principal in wanted.items():
                file = store / f"{principal.name}.json"
                known = json.loads(file.read_text()) if file.exists() else None
                password = None if known and await admin.exists(principal.name) else new_password()
                await admin.provision(principal, password=password)
                if password is not None:
                    store.mkdir(parents=True, exist_ok=True)
                    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w") as f:
                        json.dump({"KAFKA_SASL_USERNAME": principal.name, "KAFKA_SASL_PASSWORD": password}, f)
                    known = json.loads(file.read_text())
                out[name] = dict(known or {})
        return out

    found = asyncio.run(provision())
    print(f"[kafka] principals: {', '.join(c['KAFKA_SASL_USERNAME'] for c in found.values())}")
    return found


def chosen(names: list[str]) -> list[str] | None:
    """The services named (every one when none is), or None after saying which names are not services."""
    if unknown := sorted(set(names) - set(existing())):
        print(f"[services] not a service: {', '.join(unknown)} (choose among {', '.join(existing())})")
        return None
    return [n for n in existing() if n in names] if names else existing()


def code_version() -> str:
    """The checkout's commit (short), recorded beside each service started, so that `make up` on a newer checkout
    says which running services still run older code ("" outside a git checkout: nothing said)."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def code_of(name: str) -> str:
    path = LOCAL / "run" / f"{name}.code"
    return path.read_text().strip() if path.exists() else ""


def start(names: list[str] | None = None) -> int:
    wanted = chosen(names or [])
    if wanted is None:
        return 2
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        if not os.environ.get(var):
            print(f"[services] {var} is not set: run `make up` (it provisions Kafka and PostgreSQL)")
            return 2
    env = {
        **os.environ,
        "LGNET_MASTER_KEY": master_key(),
        # One national pseudonym key for the local platform (the national coordination's, in production).
        "LGNET_NATIONAL_PSEUDONYM_KEY": local_key("LGNET_NATIONAL_PSEUDONYM_KEY", "national-pseudonym.key"),
        "LGNET_CITY": os.environ.get("LGNET_CITY", "national"),
    }
    to_start = [name for name in wanted if not pid_of(name)]
    code = code_version()
    for name in sorted(set(wanted) - set(to_start)):
        ran = code_of(name)
        older = f" runs the code of {ran}, not this checkout's {code}" if ran and code and ran != code else ""
        print(f"[services] {name} already running (pid {pid_of(name)}){older}")
        if older:
            print(f"[services]   `make down`, then `make up`, runs this checkout's {name} (docs/operators.md)")
    from lgnet_shared.kafka_admin import Fail

    try:
        credentials = principals(to_start, env["LGNET_CITY"]) if to_start else {}
    except Fail as refused:  # e.g. a city's intake beside the national one serving its partners: not a traceback
        print(f"[services] not started: {refused}")
        return 1
    for name in to_start:
        proc = Background(name, port(name)).spawn(
            [str(ROOT / ".venv" / "bin" / f"lgnet-{name}")],
            {**env, **credentials[name], "LGNET_HTTP_PORT": str(port(name))},
        )
        print(f"[services] {name} starting (pid {proc.pid}) on http://127.0.0.1:{port(name)}")
        if code:
            (LOCAL / "run").mkdir(parents=True, exist_ok=True)
            (LOCAL / "run" / f"{name}.code").write_text(code)
    deadline = time.monotonic() + 90
    pending = set(wanted)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            if pid_of(name) is None:
                print(f"[services] {name} exited; see {LOCAL / 'logs' / f'{name}.log'}")
                return 1
            if ready(name)[0]:
                pending.discard(name)
        time.sleep(0.5)
    if pending:
        print(f"[services] not ready after 90s: {sorted(pending)}")
        return 1
    return 0


def stop(names: list[str] | None = None) -> int:
    wanted = chosen(names or [])
    if wanted is None:
        return 2
    for name in wanted:
        Background(name, port(name)).stop()
    return 0


def status(_: list[str] | None = None) -> int:
    for name in existing():
        where = f"http://127.0.0.1:{port(name)}  docs /docs  log {LOCAL / 'logs' / (name + '.log')}"
        print(status_line(name, pid_of(name), health(name), where))
    return 0


if __name__ == "__main__":
    commands = {"start": start, "stop": stop, "status": status}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        raise SystemExit(2)
    raise SystemExit(commands[sys.argv[1]](sys.argv[2:]))
