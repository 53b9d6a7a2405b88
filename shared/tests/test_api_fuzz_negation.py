"""The API fuzzer leaves out a negative run only where schemathesis itself finds nothing to make invalid: such a run
sent no request and spent a quarter of a fuzzer's CPU searching (docs/benchmarks.md, #22). Checked against what
Hypothesis does with each operation of a small API holding the kinds of parameters the services' APIs have, so a
schemathesis upgrade that changes its choice fails here rather than silently fuzzing less."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import schemathesis
from fastapi import FastAPI, Header, Path, Query
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from lgnet_shared.testing.api_fuzz import nothing_to_negate
from pydantic import BaseModel, Field
from schemathesis import GenerationMode
from schemathesis.core.result import Ok


class Thing(BaseModel):
    name: str = Field(min_length=1)
    size: int


def api() -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    def free_text_path(thing_id: str) -> dict[str, str]:
        return {}

    @app.post("/things/{thing_id}/erasure")
    def free_text_path_optional_header(thing_id: str, idempotency_key: Annotated[str | None, Header()] = None) -> None:
        return None

    @app.get("/codes/{code}")
    def constrained_path(code: Annotated[str, Path(pattern="^[A-Z]{3}$")]) -> dict[str, str]:
        return {}

    @app.get("/things")
    def query(limit: Annotated[int, Query(ge=1, le=100)] = 10) -> list[str]:
        return []

    @app.post("/things")
    def body(thing: Thing) -> dict[str, str]:
        return {}

    @app.put("/things/{thing_id}")
    def required_header(thing_id: str, if_match: Annotated[str, Header()]) -> None:
        return None

    return app


def operations() -> dict[str, Any]:
    schema = schemathesis.openapi.from_dict(api().openapi())
    return {f"{r.ok().method.upper()} {r.ok().path}": r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)}


def sends_a_negative_case(op: Any) -> bool:
    sent: list[object] = []

    @given(case=op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @settings(
        max_examples=3,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        sent.append(case)

    try:
        run()
    except Unsatisfiable:
        return False
    return bool(sent)


EXPECTED = {
    "GET /things/{thing_id}": True,
    "POST /things/{thing_id}/erasure": True,
    "GET /codes/{code}": False,
    "GET /things": False,
    "POST /things": False,
    "PUT /things/{thing_id}": False,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_operation_is_left_out_of_negative_runs_exactly_when_schemathesis_finds_nothing_to_negate(name: str) -> None:
    op = operations()[name]
    assert nothing_to_negate(op) is EXPECTED[name]
    assert sends_a_negative_case(op) is not EXPECTED[name]


def test_the_fuzzers_budget_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from lgnet_shared.testing import api_fuzz

    monkeypatch.delenv(api_fuzz.BUDGET_VAR, raising=False)
    assert api_fuzz.budget() == 45.0
    monkeypatch.setenv(api_fuzz.BUDGET_VAR, "600")
    assert api_fuzz.budget() == 600.0
    for bad in ("ten", "0"):
        monkeypatch.setenv(api_fuzz.BUDGET_VAR, bad)
        with pytest.raises(ValueError, match=api_fuzz.BUDGET_VAR):
            api_fuzz.budget()
