"""The notary's HTTP API (read-only): its checkpoints as C2SP signed notes, inclusion proofs of one event, and
consistency proofs between two sizes of a topic-partition's tree (docs/reporting.md, "The notary over HTTP").

Served by the `lgnet-notary run --http-port` process from the trees it keeps in memory; bad requests answer
problem+json naming the field (a size beyond the tree, an unknown topic or event id). Nothing here is personal
data: hashes, sizes, event ids and signed roots, which auditors of other organisations must be able to fetch.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Response
from fastapi.responses import PlainTextResponse
from lgnet_shared.errors import ContractError, NotFound
from lgnet_shared.http import install_problem_handlers, problem_responses, readiness
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from lgnet_reporting.domain.notary import Notary, OutOfRange
from lgnet_reporting.service_layer.notary import NotaryRunner

NOTE = "text/plain; charset=utf-8"


class CheckpointOut(BaseModel):
    topic: str
    partition: int
    size: int
    checkpoint: str = Field(description="C2SP signed note (tlog-checkpoint body, then the notary's signature line)")


class InclusionOut(BaseModel):
    topic: str
    partition: int
    offset: int = Field(description="The record's offset: the proof is always of the record at this offset")
    leaf_index: int = Field(
        description="The record's leaf index in the tree: its offset on a whole log; smaller after a gap in the"
        " partition's offsets (a transaction's commit marker, records deleted), which lgnet-audit verify names"
    )
    event_id: str | None
    leaf_hash: str = Field(description="base64 of SHA-256(0x00 || leaf): the leaf as lgnet_shared.merkle.record_leaf")
    tree_size: int
    proof: list[str] = Field(description="RFC 9162 2.1.3 audit path, base64 hashes, leaf to root")
    checkpoint: str = Field(description="The signed note of tree_size whose root the proof leads to")


class ConsistencyOut(BaseModel):
    topic: str
    partition: int
    first: int
    second: int
    proof: list[str] = Field(description="RFC 9162 2.1.4 consistency proof, base64 hashes")
    first_checkpoint: str
    second_checkpoint: str


Topic = Annotated[str, Query(description="Logical fact topic, e.g. intake.events")]
PartitionQ = Annotated[int, Query(ge=0)]


def create_app(notary: Notary, runner: NotaryRunner | None = None) -> FastAPI:
    """`runner`: the process following the log, whose Kafka and progress /health/ready checks (none: not ready)."""
    app = FastAPI(
        title="LgNet notary",
        description="Signed checkpoints of the fact log and RFC 9162 proofs (issue #16).",
        responses=problem_responses(without=(401, 403, 409)),
    )
    install_problem_handlers(app)

    def answer(fn: Any, *args: Any, path: bool = False) -> Any:
        try:
            return fn(*args)
        except OutOfRange as err:
            field = err.field.replace("query.", "path.") if path and err.field != "query.size" else err.field
            if err.missing:  # asked well, but there is nothing (yet) to answer with
                raise NotFound(field, err.reason) from None
            raise ContractError(field, err.reason) from None

    @app.get("/health/live", tags=["operations"], summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": "notary"}  # as the services' (lgnet_shared.service)

    @app.get(
        "/health/ready",
        tags=["operations"],
        summary="Kafka answers and the notary follows the log (status degraded: a Kafka broker is missing)",
        responses={503: {"description": "A check fails: it is named in `checks`"}},
    )
    async def ready(response: Response) -> dict[str, Any]:
        checks = await runner.ready() if runner is not None else {"following": "error: not running"}
        response.status_code, status = readiness(checks)
        return {"status": status, "service": "notary", "checks": checks}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        if runner is not None:
            runner.refresh_metrics()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/checkpoints", response_model=list[CheckpointOut])
    async def newest() -> Any:
        """The newest published checkpoint of every fact topic-partition."""
        return notary.newest()

    @app.get(
        "/checkpoints/{topic}/{partition}", response_class=PlainTextResponse, responses={200: {"content": {NOTE: {}}}}
    )
    async def checkpoint(
        topic: str, partition: int, size: Annotated[int | None, Query(description="Tree size (default: newest)")] = None
    ) -> PlainTextResponse:
        """One topic-partition's checkpoint as a signed note: the newest published, or the one of `size`."""
        cp = answer(notary.checkpoint, topic, partition, size, path=True)
        return PlainTextResponse(cp.note, media_type=NOTE)

    @app.get("/proofs/inclusion", response_model=InclusionOut)
    async def inclusion(
        topic: Topic | None = None,
        partition: PartitionQ | None = None,
        offset: Annotated[int | None, Query(ge=0)] = None,
        event_id: Annotated[str | None, Query(max_length=200)] = None,
        size: Annotated[int | None, Query(description="Tree size (default: newest checkpoint)")] = None,
    ) -> Any:
        """Inclusion proof of one event, named by topic, partition and offset, or by its event id."""
        if event_id is not None:
            named = {"topic": topic, "partition": partition, "offset": offset}
            topic, partition, offset = answer(notary.locate, event_id)
            # Named both ways, the two must name one event: an answer for the event id alone hid the conflict.
            for field, given in named.items():
                if given is not None and given != {"topic": topic, "partition": partition, "offset": offset}[field]:
                    raise ContractError(
                        f"query.{field}",
                        f"event {event_id} is at offset {offset} of {topic} partition {partition}, not {given}",
                    )
        if topic is None or partition is None or offset is None:
            raise ContractError("query.offset", "name the event: topic, partition and offset, or event_id")
        return answer(notary.inclusion, topic, partition, offset, size)

    @app.get("/proofs/consistency", response_model=ConsistencyOut)
    async def consistency(
        topic: Topic,
        partition: PartitionQ,
        first: Annotated[int, Query(description="The older tree size")],
        second: Annotated[int | None, Query(description="The newer tree size (default: newest checkpoint)")] = None,
    ) -> Any:
        """Consistency proof: the tree of `first` records is a prefix of the tree of `second`."""
        return answer(notary.consistency, topic, partition, first, second)

    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (committed as docs/reporting/notary-openapi.json; a test keeps them equal)."""
    from lgnet_shared.checkpoints import NotarySigner

    return create_app(Notary(NotarySigner("lgnet-notary.docs", bytes(32)))).openapi()


if __name__ == "__main__":  # python -m lgnet_reporting.entrypoints.notary_http > docs/reporting/notary-openapi.json
    import json

    print(json.dumps(openapi_document(), indent=1, sort_keys=True))
