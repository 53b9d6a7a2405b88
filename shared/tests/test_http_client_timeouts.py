"""Every HTTP client the tests build for a running service waits `HTTP_TIMEOUT_S`: httpx's default 5 s timed out under
a loaded CI machine (`lgnet_shared.testing.answers.of_service`, fixed by waiting 30 s), and the desk's end-to-end
tests, housing's and intake's anonymous clients and others still used it. A client given a transport (in process:
ASGI, mocks) waits on nothing and is not concerned."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHERE = [
    "shared/tests",
    "shared/src/lgnet_shared/testing",
    "services/*/tests",
    "tests",
    "scenario/tests",
    "deploy/tests",
]


def clients_without_timeout(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "httpx"):
            continue
        if node.func.attr not in ("AsyncClient", "Client"):
            continue
        given = {k.arg for k in node.keywords}  # None: **kwargs, which the helper fills (inprocess, answers)
        if not given & {"timeout", "transport", None}:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_test_client_of_a_running_service_waits_the_shared_timeout() -> None:
    files = sorted({f for pattern in WHERE for folder in ROOT.glob(pattern) for f in folder.rglob("*.py")})
    assert len(files) > 100, files  # the folders were found
    missing = [where for f in files for where in clients_without_timeout(f)]
    assert missing == [], "give them timeout=lgnet_shared.testing.HTTP_TIMEOUT_S: " + ", ".join(missing)
