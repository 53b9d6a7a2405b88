"""Run the desk locally next to the services: start | stop | status (the Makefile's `up`, `down`, `status`).

`start` provisions the demo operators once (`lgnet-desk-admin`'s code: Torino staff `operatrice`, `approvatore` and
`contabile` — a request above the approval threshold needs two approvers besides the one who asked —,
`aurora` of the cooperative coop-aurora, Trieste's `carso` of coop-carso and Torino's data-protection officer
`rpd`, with read-log tokens of intake, housing and payments so that her access log shows the reads and SEPA
downloads through their APIs too) on the services that run (`services.py start intake housing`: a city without
payments, its demo operators given no token there and the desk LGNET_DESK_SERVICES=intake,housing, so it shows no
payments page; intake must run; a service started later is given to them at the next start), keeps their generated
password in .local/desk-demo.txt (mode 600), starts `.venv/bin/lgnet-desk` on
LGNET_DESK_PORT (default 8005) with the services' master key, and prints the address and a demo login.
The local desk speaks plain HTTP on loopback, so its cookies are not marked Secure (LGNET_DESK_COOKIE_SECURE=false);
a city's desk runs behind TLS with the default."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from unittest.mock import patch

from background import LOCAL, ROOT, Background, command_line, pid_of

from services import master_key, port

DEMO = [
    ("operatrice", "Maria Rossi (demo)", "staff", "torino", None),
    ("approvatore", "Giulia Verdi (demo)", "staff", "torino", None),
    ("contabile", "Paola Neri (demo)", "staff", "torino", None),
    ("aurora", "Luca Bianchi, coop-aurora (demo)", "partner", "torino", "coop-aurora"),
    ("carso", "Sara Carso, coop-carso (demo)", "partner", "trieste", "coop-carso"),
    ("rpd", "RPD Torino (demo)", "dpo", "torino", None),
]
PASSWORDS = LOCAL / "desk-demo.txt"
PROVISIONED = LOCAL / "desk-demo-services.txt"  # the services the demo operators were given tokens on
SERVICES = ("intake", "housing", "payments")  # those the desk calls


def demo() -> list[tuple[str, str, str, str, str | None]]:
    """The demo operators of this deployment: all of DEMO for the national one (it serves both cities); a city's
    deployment (LGNET_CITY) refuses another city's operators, so its staff and DPO are the city's, and only its own
    partners' operators are made (it ended on a traceback, "torino's actors belong to its own")."""
    city = os.environ.get("LGNET_CITY", "national")
    if city == "national":
        return DEMO
    name = city.capitalize()
    return [
        (user, label.replace("Torino", name), role, city, partner)
        for user, label, role, of, partner in DEMO
        if role != "partner" or of == city
    ]


def running() -> list[str]:
    """The services the desk calls that run here: a city may run only some (one not running has no schema to hold
    the operators' actors, nor anything to answer the desk)."""
    return [s for s in SERVICES if pid_of(s)]


def desk_port() -> int:
    return int(os.environ.get("LGNET_DESK_PORT", 8005))


DESK = Background("desk", desk_port())


def env(services: list[str]) -> dict[str, str]:
    return {
        **os.environ,
        "LGNET_MASTER_KEY": master_key(),
        "LGNET_DB_SCHEMA": "desk",
        "LGNET_HTTP_PORT": str(desk_port()),
        "LGNET_DESK_COOKIE_SECURE": "false",
        "LGNET_DESK_SERVICES": ",".join(services),
        **{f"LGNET_{s.upper()}_URL": f"http://127.0.0.1:{port(s)}" for s in services},
    }


def provision(services: list[str]) -> str:
    """The demo operators' password, created with them the first time on `services`; a service of `services` started
    since is given to them (`lgnet-desk-admin give-services`: their token there, the DPO's read-log token)."""
    done = provisioned()
    new = [s for s in services if s not in done]
    if PASSWORDS.exists() and not new:
        return PASSWORDS.read_text().strip()
    from lgnet_desk.domain.operators import Operator, OperatorRole
    from lgnet_desk.entrypoints import admin
    from lgnet_desk.settings import DeskSettings
    from lgnet_shared import config

    with patch.dict(os.environ, env(services)):  # the desk's settings, not left in the caller's environment
        settings = DeskSettings()
    first = not PASSWORDS.exists()
    password = secrets.token_urlsafe(12) if first else PASSWORDS.read_text().strip()

    async def add_all() -> None:
        for username, name, role, city, partner in demo():
            op = Operator(username, name, OperatorRole(role), city, partner)
            logs = new if role == "dpo" else ()
            readers = {s: await read_log_token(settings.database_url, s, city, name) for s in logs}
            schemas = {s: s for s in services}
            # The services' deployment (services.py), which serves every demo city when national: said, as
            # `lgnet-desk-admin --deployment` says it (a schema of another deployment is refused).
            deployment = config.deployment_of()
            if first:
                await admin.add_operator(
                    settings, op, password, schemas, read_log_tokens=readers, deployment=deployment
                )
            else:
                await admin.give_services(settings, username, schemas, readers, deployment=deployment)

    # Each operator added is recorded with who ran it (`admin_actions`) and said as a JSON line on stderr: `make up`
    # records itself as `make up` and keeps those lines in the desk's log, not among the reports it prints.
    (LOCAL / "logs").mkdir(parents=True, exist_ok=True)
    with (
        patch.dict(os.environ, {"LGNET_ADMIN_BY": os.environ.get("LGNET_ADMIN_BY", "make up")}),
        open(LOCAL / "logs" / "desk-admin.log", "a") as log,
        contextlib.redirect_stderr(log),
    ):
        asyncio.run(add_all())
    if first:
        fd = os.open(PASSWORDS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    PROVISIONED.write_text(",".join(s for s in SERVICES if s in done or s in services) + "\n")
    return password


def provisioned() -> list[str]:
    """The services the demo operators have their tokens on (all three when provisioned before this was kept)."""
    if PROVISIONED.exists():
        return PROVISIONED.read_text().strip().split(",")
    return list(SERVICES) if PASSWORDS.exists() else []


async def read_log_token(database_url: str, schema: str, city: str, name: str) -> str:
    """A read-log token of the demo DPO's city on a service, as `lgnet-admin --schema <service>
    issue-read-log-token` makes it (the service, started before the desk, has its table)."""
    from lgnet_shared import db, read_log_readers

    pool = await db.create_pool(database_url, schema, max_size=1, create=False)
    try:
        async with pool.acquire() as conn:
            return await read_log_readers.issue_reader_token(conn, city, name)
    finally:
        await pool.close()


def start() -> int:
    if not os.environ.get("DATABASE_URL"):
        print("[desk] DATABASE_URL is not set: run `make up`")
        return 2
    services = running()
    if "intake" not in services:
        print("[desk] intake does not run: the desk cannot work without it (`services.py start intake` first)")
        return 2
    password = provision(services)
    if not DESK.start([str(ROOT / ".venv" / "bin" / "lgnet-desk")], env(services)):
        return 1
    if len(services) < len(SERVICES):
        print(f"[desk] the city runs {', '.join(services)}: the desk shows only those (LGNET_DESK_SERVICES)")
    print(f"[desk] the desk: {DESK.url}/  (in Italian; English with ?lang=en)")
    city = os.environ.get("LGNET_CITY", "national")
    others = ", ".join(user for user, *_ in demo() if user != "operatrice")
    print(
        f"[desk] demo login: operatrice / {password}  ({'Torino' if city == 'national' else city.capitalize()} staff;"
        f" also {others};"
    )
    print(f"[desk]             same password, kept in {PASSWORDS})")
    return 0


def stop() -> int:
    DESK.stop()
    return 0


def status() -> int:
    print(DESK.status_line())
    return 0


if __name__ == "__main__":
    command_line(__doc__, start=start, stop=stop, status=status)
