"""Every state-changing HTTP route of the four services accepts an Idempotency-Key, read from the apps' route
tables: a new route without idempotency support fails here (docs/partners.md, "Retries and idempotency")."""

from __future__ import annotations

import base64
import importlib
import os

import pytest
from lgnet_shared import config
from lgnet_shared.service import ServiceSpec, create_app

SERVICES = ("intake", "housing", "payments", "reporting")
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
# Routes that change nothing recorded although they are not GETs. Add one only with a reason.
EXEMPT: set[str] = {
    "POST /persons/search",  # a read: POST only so that names and fiscal codes stay out of addresses (access logs)
    "POST /street-persons/nicknames",  # a read of up to 100 ids at once: POST for a body, not a long address
    "POST /persons/check",  # a registration's rules applied, nothing stored: POST for a body holding names
}


def operations(service: str) -> dict[str, list[str]]:
    """'METHOD /path' -> its header parameters, from the app's route table as OpenAPI publishes it."""
    spec: ServiceSpec = importlib.import_module(f"lgnet_{service}.entrypoints.main").SPEC
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "LGNET_CITY": "national",
        "LGNET_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        app = create_app(spec, config.load())  # the routers only; nothing starts
    return {
        f"{method.upper()} {path}": [p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"]
        for path, item in app.openapi()["paths"].items()
        for method, op in item.items()
    }


@pytest.mark.parametrize("service", SERVICES)
def test_every_state_changing_route_accepts_an_idempotency_key(service: str) -> None:
    changing = {op: headers for op, headers in operations(service).items() if op.split()[0] in CHANGES}
    assert changing, f"{service} has no state-changing route?"
    missing = [op for op, headers in changing.items() if op not in EXEMPT and "idempotency-key" not in headers]
    assert not missing, f"{service}: state-changing routes without an Idempotency-Key header: {missing}"
