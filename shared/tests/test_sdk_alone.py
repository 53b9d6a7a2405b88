"""`pip install lgnet-shared` installs the contracts and the SDK with their small dependencies, not the services'
runtime (the `runtime` extra). An outside test installed it alone: `from lgnet_shared.sdk import PartnerClient` failed
with "No module named 'asyncpg'" (pii imported the database module for a type)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# Import names of the runtime extra's distributions, where they differ.
IMPORT_NAME = {"faststream[kafka]": "faststream", "pydantic-settings": "pydantic_settings",
               "opentelemetry-api": "opentelemetry", "opentelemetry-sdk": "opentelemetry",
               "prometheus-client": "prometheus_client"}  # fmt: skip


def runtime_only() -> list[str]:
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["runtime"]
    names = {r.split(";")[0].split(">=")[0].split("==")[0].strip() for r in extra}
    return sorted({IMPORT_NAME.get(n, n.replace("-", "_")) for n in names})


def test_the_sdk_and_the_contracts_import_without_the_services_runtime() -> None:
    blocked = runtime_only()
    assert "asyncpg" in blocked and "faststream" in blocked
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from lgnet_shared.sdk import PartnerClient\n"
        "from lgnet_shared import codec, envelope, events, pii\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]
