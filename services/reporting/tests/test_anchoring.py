"""Issue #18: the PDF of a published report prints the notary checkpoint its digest is anchored in. Against the
real service, Kafka and PostgreSQL: a report is published, the PDF says it is not yet anchored; a notary round
checkpoints `reporting.events`; the PDF (read back with pypdf) and the JSON then name that checkpoint's origin, tree
size and root hash. A checkpoint signed by a key that is not the pinned notary's is never taken for an anchor."""

from __future__ import annotations

import asyncio
import base64
import io
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_reporting import settings
from lgnet_reporting.adapters import log
from lgnet_reporting.domain.anchoring import Anchor, covering
from lgnet_reporting.entrypoints import audit
from lgnet_shared.checkpoints import NotarySigner
from lgnet_shared.kafka import client_kwargs
from lgnet_shared.topics import physical
from pypdf import PdfReader

if TYPE_CHECKING:
    from conftest import ReportingUnderTest

pytestmark = pytest.mark.integration
AS_OF = "2026-06-30"


def _anchor(size: int, partition: int = 0) -> Anchor:
    return Anchor(f"lgnet/reporting.events/{partition}", size, "root", "note", datetime(2026, 7, 1, tzinfo=UTC))


def test_the_first_checkpoint_covering_the_record_anchors_it() -> None:
    checkpoints = [_anchor(3), _anchor(9), _anchor(5), _anchor(50, partition=1)]
    assert covering(0, 4, checkpoints) == _anchor(5)  # size 5 covers offsets 0..4; size 3 does not
    assert covering(0, 2, checkpoints) == _anchor(3)
    assert covering(0, 9, checkpoints) is None  # not yet: no tree reaches offset 9
    assert covering(1, 4, checkpoints) == _anchor(50, partition=1)


def pdf_text(content: bytes) -> str:
    text = "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)
    return "".join(text.split())  # the reader's line breaks and spaces do not matter here


async def pdf(rt: ReportingUnderTest, actor: str, **params: str) -> str:
    async with rt.client(actor) as c:
        r = await c.get("/reports/city_summary/export", params={"format": "pdf", "as_of": AS_OF, **params})
        assert r.status_code == 200, r.text
        return pdf_text(r.content)


async def relayed(rt: ReportingUnderTest, topic: str, count: int, timeout: float = 30) -> None:
    """Wait until `count` records are on `topic` (the outbox relay publishes the report asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while sum((await log.end_positions(rt.bootstrap, [topic])).get(topic, {}).values()) < count:
        assert asyncio.get_running_loop().time() < deadline, f"nothing relayed to {topic}"
        await asyncio.sleep(0.2)


async def test_the_pdf_prints_the_checkpoint_anchoring_the_published_report(loaded: ReportingUnderTest) -> None:
    rt = loaded
    reports_topic = physical("reporting.events", rt.prefix)
    async with rt.client("staff-torino") as c:
        r = await c.post("/reports/city_summary/publish", json={"as_of": AS_OF}, headers={"Idempotency-Key": "a1"})
        assert r.status_code == 201, r.text
        published = r.json()
    await relayed(rt, reports_topic, 1)

    before = await pdf(rt, "staff-torino")
    assert published["digest"] in before
    assert "Nonancoraancorato" in before  # Italian by default: no checkpoint covers the report yet

    # A checkpoint of the reports' topic signed by some other key: never an anchor.
    forged = NotarySigner("lgnet-notary.national", os.urandom(32)).sign("lgnet/reporting.events/0", 5, os.urandom(32))
    producer = AIOKafkaProducer(**client_kwargs(rt.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(
            physical("checkpoints", rt.prefix), forged.note.encode(), key=forged.origin.encode()
        )
    finally:
        await producer.stop()
    assert "Nonancoraancorato" in await pdf(rt, "staff-torino")

    # Checkpoints of the reports' topic of other logs (another topic prefix, or none), signed with this deployment's
    # notary key (a staging notary sharing it): not this log's, never an anchor.
    signer = settings.notary_signer(rt.env)
    assert signer is not None
    for prefix in ("staging.", ""):
        elsewhere = signer.sign(f"{prefix}lgnet/reporting.events/0", 5, os.urandom(32))
        await rt.producer.send_and_wait(
            physical("checkpoints", rt.prefix), elsewhere.note.encode(), key=elsewhere.origin.encode()
        )
    assert "Nonancoraancorato" in await pdf(rt, "staff-torino")

    # A notary round with the deployment's notary key (the one reporting pins by default).
    fresh = await audit.notary_once(rt.bootstrap, rt.prefix, signer)
    origin = f"{rt.prefix}lgnet/reporting.events/0"  # the log's topic prefix named (none: lgnet/…)
    (cp,) = [c for c in fresh if c.origin == origin]
    root = base64.b64encode(cp.root).decode()

    after = await pdf(rt, "staff-torino")
    assert "Ancoratonelcheckpointfirmatodalnotaio" in after and "Nonancoraancorato" not in after
    assert root in after and base64.b64encode(forged.root).decode() not in after
    assert origin in after and published["report_id"] in after
    english = await pdf(rt, "staff-torino", lang="en")
    assert "Anchoredinthenotary-signedcheckpoint" in english and root in english

    async with rt.client("staff-torino") as c:
        mine = (await c.get(f"/reports/published/{published['report_id']}")).json()
        live = (await c.get("/reports/city_summary", params={"as_of": AS_OF})).json()
    expected: dict[str, Any] = {"origin": origin, "tree_size": cp.size, "root_hash": root}
    assert {k: mine["anchor"][k] for k in expected} == expected
    assert mine["anchor"]["note"] == cp.note  # the signed note itself: anyone can verify it with the notary's key
    assert live["digest"] == published["digest"] and live["anchor"] == mine["anchor"]
    # Another period, never published: no anchor to show.
    async with rt.client("staff-torino") as c:
        other = (await c.get("/reports/city_summary", params={"as_of": "2026-03-31"})).json()
    assert other["anchor"] is None

    # Once known, an anchor is answered from reporting's tables: neither the anchored report nor a live one that was
    # never published reads the log again (no Kafka round trip per request); a published report not yet anchored
    # does.
    read_before = await checkpoints_read(rt)
    another = NotarySigner("lgnet-notary.other", os.urandom(32)).sign("lgnet/reporting.events/0", 9, os.urandom(32))
    await rt.producer.send_and_wait(physical("checkpoints", rt.prefix), another.note.encode(), key=b"x")
    async with rt.client("staff-torino") as c:
        assert (await c.get(f"/reports/published/{published['report_id']}")).json()["anchor"] == mine["anchor"]
        assert (await c.get("/reports/city_summary", params={"as_of": AS_OF})).json()["anchor"] == mine["anchor"]
        assert (await c.get("/reports/city_summary", params={"as_of": "2026-03-31"})).json()["anchor"] is None
    assert await checkpoints_read(rt) == read_before
    async with rt.client("staff-torino") as c:
        r = await c.post(
            "/reports/city_summary/publish", json={"as_of": "2026-03-31"}, headers={"Idempotency-Key": "a2"}
        )
        assert r.status_code == 201, r.text
        assert (await c.get(f"/reports/published/{r.json()['report_id']}")).json()["anchor"] is None
    assert await checkpoints_read(rt) == read_before + 1  # the unanchored one looked for its anchor


async def checkpoints_read(rt: ReportingUnderTest) -> int:
    async with rt.pool.acquire() as conn:
        read = await conn.fetchval("select next_offset from anchor_positions where topic = 'checkpoints'")
    return int(read or 0)


def test_the_anchor_lines_in_italian_and_english() -> None:
    from lgnet_reporting.adapters.pdf_document import anchor_lines

    anchor = {**_anchor(7).as_json(), "report_id": "R1", "checkpointed_at": "2026-07-01T08:30:00+00:00"}
    italian = anchor_lines({"anchor": anchor}, "it")
    assert italian[0] == "Ancorato nel checkpoint firmato dal notaio:"
    assert "lgnet/reporting.events/0 — dimensione dell'albero 7" in italian
    assert "Pubblicato dal notaio il 1 lug 2026, 08:30:00 UTC" in italian
    assert anchor_lines({"anchor": None}, "en")[0].startswith("Not yet anchored")
    assert anchor_lines({}, "it") == []  # a file rendered outside the service says nothing it cannot know


async def test_a_published_report_is_exported_again_as_published_after_late_facts(loaded: ReportingUnderTest) -> None:
    """From outside testers: the export route recomputes from the projections, so once a back-dated event arrived
    the re-export of Torino's published report had another digest and read "not yet anchored". A published report
    is exported by its id: its stored body, its digest and its anchor, in every format, whatever arrived since."""
    from datetime import date

    from lgnet_shared.events import intake as i

    rt = loaded
    async with rt.client("staff-torino") as c:
        r = await c.post("/reports/city_summary/publish", json={"as_of": AS_OF}, headers={"Idempotency-Key": "late"})
        assert r.status_code == 201, r.text
        published = r.json()
    await relayed(rt, physical("reporting.events", rt.prefix), 1)
    signer = settings.notary_signer(rt.env)
    assert signer is not None
    await audit.notary_once(rt.bootstrap, rt.prefix, signer)
    params = {"as_of": AS_OF}
    async with rt.client("staff-torino") as c:
        as_published = {f: (await c.get("/reports/city_summary/export", params={**params, "format": f})) for f in
                        ("csv", "xlsx", "pdf")}  # fmt: skip
    assert {f: x.headers["X-Report-Digest"] for f, x in as_published.items()} == dict.fromkeys(
        as_published, published["digest"]
    )

    # A household taken in charge in February, recorded only now (a back-dated fact).
    late = [
        i.PersonRegistered(person_id="P-LATE", household_id="H-LATE", registered_by="desk", birth_date=date(1990, 1, 1),
                           sex=i.Sex.FEMALE, nationality="SN", third_country=True),
        i.HouseholdFormed(household_id="H-LATE", city="torino", reference_person_id="P-LATE", member_ids=["P-LATE"]),
        i.CaseOpened(case_id="C-LATE", household_id="H-LATE", city="torino", action_area=i.ActionArea.TAKING_CHARGE,
                     channel=i.Channel.DESK, partner="coop", opened_on=date(2026, 2, 1)),
    ]  # fmt: skip
    await rt.send([rt.envelope(e, "torino") for e in late])
    await rt.settle()
    async with rt.client("staff-torino") as c:
        live = await c.get("/reports/city_summary/export", params={**params, "format": "csv"})
        assert live.headers["X-Report-Digest"] != published["digest"]  # the same as_of, recomputed: other numbers

        for fmt, before in as_published.items():
            again = await c.get(f"/reports/published/{published['report_id']}/export", params={"format": fmt})
            assert again.status_code == 200, again.text
            assert again.headers["X-Report-Digest"] == published["digest"]
            assert again.headers["content-type"] == before.headers["content-type"]
            assert again.content == before.content, fmt  # the very file it gave when published
        english = await c.get(f"/reports/published/{published['report_id']}/export", params={"format": "pdf",
                                                                                             "lang": "en"})  # fmt: skip
        text = pdf_text(english.content)
        assert published["digest"] in text and "Anchoredinthenotary-signedcheckpoint" in text
        assert published["report_id"] in text

        unknown = await c.get("/reports/published/NO-SUCH-REPORT/export", params={"format": "csv"})
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["field"] == "path.report_id", unknown.json()
    async with rt.client("staff-trieste") as c:  # the same rights as the report's own export
        other = await c.get(f"/reports/published/{published['report_id']}/export", params={"format": "csv"})
        # another city's report reads as one never published (a 403 told its id exists), at the route's own field
        assert other.status_code == 404 and other.json()["field"] == "path.report_id", other.text
        read = await c.get(f"/reports/published/{published['report_id']}")
        assert read.status_code == 404 and read.json()["field"] == "path.report_id", read.text
