"""`lgnet-partner check`: a partner's files judged offline by the gatekeeper's own checks, one line per file."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from lgnet_intake.entrypoints import partner_check
from lgnet_intake.service_layer import inbound as rules
from lgnet_shared import pii, signing
from lgnet_shared.contracts.examples import envelope_of, example_path
from lgnet_shared.errors import ContractError
from lgnet_shared.events import REGISTRY, Event, Sealed, event_types, versions
from lgnet_shared.events import partner as inbound
from partner_records import AMINA_CF, Sender, bad_records, dump, sender_with_test_key

if TYPE_CHECKING:
    from conftest import IntakeUnderTest

TODAY = "2026-11-30"
CONTRACTS = Path(__file__).parents[3] / "contracts"
EXPECTED = {  # file -> what the kit prints after "FILE: " (kind, field, reason: what intake would answer)
    "check_character": "invalid data.identity.fiscal_code: wrong check character"
    " (the 16th, computed from the first 15)",
    "fiscal_code_birth_date": "invalid data.identity.fiscal_code: does not match birth_date",
    "sealed_as_another_field": "invalid data.identity.given_name: given_name: cannot be opened with intake's key"
    " (wrong key id or field)",
    "number_for_a_date": "invalid_data data.opened_on: must be an ISO 8601 date string, YYYY-MM-DD",
    "other_city": "forbidden city: partner coop-aurora works in torino, not trieste",
    "partitionkey_of_another": "forbidden partitionkey: must be your partner id coop-aurora (the record is signed by"
    " coop-aurora): intake reads each partner's records in order by it",
    "record_key_of_another": "forbidden partitionkey: the Kafka record key must be your partner id coop-aurora, as"
    " partitionkey: keyed otherwise, your records land on other partitions and are processed out of order",
    "tampered": "unauthenticated headers.lgnet-signature: signature does not verify with the partner's key",
    "whole_and_a_field": "invalid data.identity.all: holds the whole identity: leave out given_name, or send each"
    " field alone without `all`",
    "whole_with_a_nickname": "invalid data.identity.all: holds a member that is not an identifying field"
    " (given_name, family_name, fiscal_code, phone, address, birth_date)",
    "whole_written_as_v2": "invalid_data data.identity.all: Extra inputs are not permitted",  # v2's schema has none
    "operator_by_e_mail": "invalid data.operator: holds an e-mail address: identifiers travel in clear and are never"
    " erased; choose one that says nothing of the person (e.g. a UUID)",
    "staff_by_phone": "invalid data.staff.1: holds a phone number: identifiers travel in clear and are never erased;"
    " choose one that says nothing of the person (e.g. a UUID)",
}


@pytest.fixture
def kit(tmp_path: Path) -> tuple[list[str], Path]:
    s, intake_private = sender_with_test_key("coop-aurora")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps(
            {
                "partner": s.partner,
                "city": "torino",
                "signing": {
                    "key_id": s.key_id,
                    "public_key": base64.b64encode(signing.public_bytes(s.signing_key)).decode(),
                },
            }
        )
    )
    (tmp_path / "good.json").write_text(dump(s.record(s.registration("p-1"))))
    (tmp_path / "good_whole.json").write_text(dump(s.record(s.whole("p-1", fiscal_code=AMINA_CF))))  # v3
    (tmp_path / "signing.key").write_bytes(s.signing_key.private_bytes_raw())
    for name, record in bad_records(s).items():
        (tmp_path / f"{name}.json").write_text(dump(record))
    key = intake_private.private_bytes_raw().hex()
    return ["check", "--bundle", str(bundle), "--intake-test-key", key, "--today", TODAY], tmp_path


def test_a_good_record_passes_and_each_bad_one_is_named_as_intake_would(
    kit: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args, folder = kit
    files = [str(folder / "good.json"), str(folder / "good_whole.json"), *(str(folder / f"{n}.json") for n in EXPECTED)]
    assert partner_check.main([*args, *files]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [f"{folder / 'good.json'}: ok", f"{folder / 'good_whole.json'}: ok"]
    for name, expected in EXPECTED.items():
        assert f"{folder / name}.json: {expected}" in lines, name
    assert lines[-1].startswith(f"2 of {len(files)} records would be accepted by the gatekeeper's offline checks; ")


def test_without_the_test_key_the_form_is_checked_and_the_rest_is_said(
    kit: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args, folder = kit
    without_key = [a for i, a in enumerate(args) if a != "--intake-test-key" and args[i - 1] != "--intake-test-key"]
    assert partner_check.main([*without_key, str(folder / "good.json"), str(folder / "check_character.json")]) == 0
    out = capsys.readouterr().out
    assert "note: sealed fields not opened (pass --intake-test-key): their contents not checked" in out


def test_a_bare_value_is_checked_without_its_signature_unless_required(
    kit: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args, folder = kit
    bare = folder / "bare.json"
    bare.write_text(json.loads((folder / "good.json").read_text())["value"])
    assert partner_check.main([*args, str(bare)]) == 0
    assert "note: not signed (a bare value): signature not checked" in capsys.readouterr().out
    assert partner_check.main([*args, "--require-signature", str(bare)]) == 1
    assert "unauthenticated headers.lgnet-signature: missing" in capsys.readouterr().out


def test_a_record_file_of_the_wrong_form_is_named_by_its_member_and_the_other_files_are_still_checked(
    kit: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A record file whose headers, value or key are not what the kit reads is said on its own line, naming the
    member (no traceback, no stop before the other files); a record without headers is an unsigned record, refused
    as intake would (not judged as a bare value that lacks `specversion`)."""
    args, folder = kit
    good = json.loads((folder / "good.json").read_text())
    forms = {
        "headers_number": ({**good, "headers": 5}, "headers: must be a list of [name, value] pairs or an object"),
        "header_alone": ({**good, "headers": [["lgnet-signature"]]}, "headers.0: must be a [name, value] pair"),
        "value_number": ({**good, "value": 5}, "value: must be a string"),
        "value_base64_bad": (
            {"key": good["key"], "headers": good["headers"], "value_base64": "!!!"},
            "value_base64: must be the value's bytes in base64",
        ),
        "key_number": ({**good, "key": 7}, "key: must be a string"),
    }
    for name, (doc, _) in forms.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))
    (folder / "no_headers.json").write_text(json.dumps({"key": good["key"], "value": good["value"]}))
    files = [*(str(folder / f"{n}.json") for n in forms), str(folder / "no_headers.json"), str(folder / "good.json")]
    assert partner_check.main([*args, *files]) == 1
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert "Traceback" not in out.err and out.err == ""
    for name, (_, expected) in forms.items():
        assert any(line.startswith(f"{folder / name}.json: not a record file: {expected}") for line in lines), name
    assert (
        f"{folder / 'no_headers.json'}: unauthenticated headers.lgnet-signature: missing: records must be signed"
        in lines
    )
    assert f"{folder / 'good.json'}: ok" in lines
    assert lines[-1] == (
        f"1 of {len(files)} records would be accepted by the gatekeeper's offline checks; 6 problems in 6 records"
    )


def test_every_problem_of_every_record_of_a_file_is_said_with_a_summary(
    kit: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A partner checking a file of records saw one line per file, the first problem of its first record, and had to
    fix and run again to learn the next. A file may hold several records (a JSON array, or JSON Lines: one record
    per line): each is said by its index (and its offset when it carries one), with every problem it has — its
    claims, its partition key, every field of its data, its registration's rules — then a summary."""
    args, folder = kit
    s = Sender("coop-aurora", "coop-aurora-key", partner_check_signer(folder), kit_intake_key(args), "t")
    wrong_check = AMINA_CF[:15] + ("A" if AMINA_CF[15] != "A" else "B")
    opening = inbound.CaseOpeningSubmitted(
        case_id="c-1", household_id="h-1", action_area="taking_charge", channel="desk", opened_on=date(2026, 3, 1)
    )
    good = s.record(s.registration("p-1"))
    several = [
        good,
        # another city, another partner's key, a fiscal code's check character: three problems, three lines
        s.record(s.registration("p-2", fiscal_code=wrong_check), city="trieste", partitionkey="coop-borgo"),
        {**s.record(opening, data={"opened_on": 1764460800, "channel": "bogus"}), "partition": 0, "offset": 17},
    ]
    (folder / "batch.json").write_text(json.dumps(several))
    (folder / "batch.jsonl").write_text("\n".join(json.dumps(r) for r in several[::-1]) + "\n")
    assert partner_check.main([*args, str(folder / "batch.json"), str(folder / "batch.jsonl")]) == 1
    lines = capsys.readouterr().out.splitlines()
    batch, jsonl = folder / "batch.json", folder / "batch.jsonl"
    assert lines == [
        f"{batch}[0]: ok",
        f"{batch}[1]: forbidden city: partner coop-aurora works in torino, not trieste",
        f"{batch}[1]: {EXPECTED['partitionkey_of_another']}",
        f"{batch}[1]: {EXPECTED['check_character']}",
        f"{batch}[2] (partition 0, offset 17): invalid_data data.channel: Input should be 'desk' or 'mobile_unit'",
        f"{batch}[2] (partition 0, offset 17): {EXPECTED['number_for_a_date']}",
        f"{jsonl}[0] (partition 0, offset 17): invalid_data data.channel: Input should be 'desk' or 'mobile_unit'",
        f"{jsonl}[0] (partition 0, offset 17): {EXPECTED['number_for_a_date']}",
        f"{jsonl}[1]: forbidden city: partner coop-aurora works in torino, not trieste",
        f"{jsonl}[1]: {EXPECTED['partitionkey_of_another']}",
        f"{jsonl}[1]: {EXPECTED['check_character']}",
        f"{jsonl}[2]: ok",
        "2 of 6 records would be accepted by the gatekeeper's offline checks; 10 problems in 4 records",
    ]
    assert partner_check.main([*args, str(folder / "good.json")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "1 of 1 records would be accepted by the gatekeeper's offline checks; 0 problems in 0 records"
    )


def kit_intake_key(args: list[str]) -> str:
    """The public half of the test key the kit's records are sealed to (base64url, as GET /inbound-key gives it)."""
    private = X25519PrivateKey.from_private_bytes(bytes.fromhex(args[args.index("--intake-test-key") + 1]))
    return base64.urlsafe_b64encode(private.public_key().public_bytes_raw()).decode().rstrip("=")


def test_bad_arguments_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert partner_check.main(["check", str(tmp_path / "x.json")]) == 2
    assert (
        capsys.readouterr().err
        == "lgnet-partner: error: --bundle: pass your onboarding bundle, or --partner and --city\n"
    )
    assert partner_check.main(["check", "--partner", "p", "--city", "torino", "--intake-test-key", "abc", "x"]) == 2
    assert "--intake-test-key" in capsys.readouterr().err


def test_the_kit_accepts_every_type_partners_may_send() -> None:
    from lgnet_intake.service_layer.inbound import ACCEPTED
    from lgnet_shared.events import civic, outreach

    sent = {
        m.type
        for module in (
            inbound,
            civic,
            outreach,
        )  # civic engagement's and outreach's requests live with their facts (#19)
        for m in vars(module).values()
        if isinstance(m, type) and issubclass(m, Event) and getattr(m, "topic", "") == inbound.INBOUND
    }
    assert {m.type for m in ACCEPTED} == sent


@pytest.mark.integration
async def test_the_kit_says_what_the_running_gatekeeper_answers(
    intake: IntakeUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same records, sealed to intake's real key and signed with a registered key, go to the real gatekeeper
    and through the kit: every answer on the partner's topic is the kit's line, kind, field and reason."""
    from aiokafka import AIOKafkaProducer
    from lgnet_intake.adapters import credentials
    from lgnet_shared.kafka import client_kwargs
    from lgnet_shared.pii import parse_master_key
    from lgnet_shared.topics import partner_inbound
    from partner_records import sender

    s = sender("coop-aurora", "coop-aurora-key", intake.signing_keys["coop-aurora"], intake.inbound_key)
    records = {k: v for k, v in bad_records(s).items() if k != "tampered"}  # not authentic: never answered
    producer = AIOKafkaProducer(**client_kwargs(intake.bootstrap))
    await producer.start()
    sent: dict[str, str] = {}
    try:
        for name, record in records.items():
            headers = [(k, v.encode()) for k, v in record["headers"]]
            await producer.send_and_wait(
                partner_inbound("torino", intake.prefix),
                record["value"].encode(),
                key=record["key"].encode(),  # as the file says: a record keyed by another partner is refused alike
                headers=headers,
            )
            sent[json.loads(record["value"])["id"]] = name
            (tmp_path / f"{name}.json").write_text(dump(record))
    finally:
        await producer.stop()
    answers = {}
    async with intake.partner("coop-aurora", "torino") as client:
        async for rejection in client.rejections(timeout=20):
            answers[sent[rejection.inbound_event_id]] = rejection
            if len(answers) == len(records):
                break
    async with intake.pool.acquire() as conn:
        master = parse_master_key(intake.env["LGNET_MASTER_KEY"])
        private = await credentials.inbound_private_key(conn, master, intake.inbound_key["key_id"])
    assert private is not None
    public = base64.b64encode(signing.public_bytes(intake.signing_keys["coop-aurora"])).decode()
    args = ["check", "--partner", "coop-aurora", "--city", "torino", "--signing-public-key", public]
    args += ["--signing-key-id", "coop-aurora-key", "--intake-test-key", private.private_bytes_raw().hex()]
    capsys.readouterr()
    await asyncio.to_thread(partner_check.main, [*args, *(str(tmp_path / f"{n}.json") for n in records)])
    lines = capsys.readouterr().out.splitlines()
    for name in records:
        a = answers[name]
        assert f"{tmp_path / name}.json: {a.kind} {a.field}: {a.reason}" in lines, (name, a)


def test_a_binary_mode_record_is_checked_with_its_signed_headers(
    kit: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Binary mode: attributes in ce_* headers, the value is data; the signature covers both (docs/partners.md)."""
    args, folder = kit
    bundle = json.loads(Path(args[args.index("--bundle") + 1]).read_text())
    good = json.loads((folder / "good.json").read_text())
    env = json.loads(good["value"])
    data = {"person_id": env["data"]["person_id"], "purpose": "service", "granted": True, "recorded_on": TODAY}
    headers = [
        ("ce_specversion", "1.0"),
        ("ce_id", "0193b2a4-8f01-7c1e-9a6e-1f2d3c4b5a70"),
        ("ce_source", f"/partners/{bundle['partner']}"),
        ("ce_type", "lgnet.partner.consent_reported"),
        ("ce_city", "torino"),
        ("ce_partner", bundle["partner"]),
        ("content-type", "application/json"),
    ]
    value = json.dumps(data)
    signer = partner_check_signer(folder)
    signature = signing.sign(signer, bundle["signing"]["key_id"], value.encode(), [(k, v.encode()) for k, v in headers])
    record = {"key": bundle["partner"], "headers": [*headers, [signature[0], signature[1].decode()]], "value": value}
    (folder / "binary.json").write_text(json.dumps(record))
    assert partner_check.main([*args, str(folder / "binary.json")]) == 0
    assert f"{folder / 'binary.json'}: ok" in capsys.readouterr().out
    record["headers"][4] = ["ce_city", "trieste"]  # changed after signing: not authentic any more
    (folder / "binary.json").write_text(json.dumps(record))
    assert partner_check.main([*args, str(folder / "binary.json")]) == 1
    assert "unauthenticated headers.lgnet-signature: signature does not verify" in capsys.readouterr().out


def partner_check_signer(folder: Path) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes((folder / "signing.key").read_bytes())


# docs/partners.md, "Worked example": the intake test key the published examples are sealed to.
WORKED_EXAMPLE_INTAKE_KEY = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"


@pytest.mark.parametrize(
    ("event_type", "version"),
    [(t, v) for t in event_types() for v in versions(t) if REGISTRY[(t, v)].model.topic == inbound.INBOUND],
)
async def test_every_published_example_passes_the_kit(event_type: str, version: int) -> None:
    """docs/partners.md promises one valid example of each event in contracts/examples/: each, in the envelope a
    partner sends it in, passes every offline check of the gatekeeper (`lgnet-partner check`), its sealed fields
    opened with the worked example's intake key. `lgnet-contracts check` (shared) holds them to the schema only."""
    data = json.loads(example_path(CONTRACTS, event_type, version).read_text())
    value, _ = envelope_of(event_type, version, data).to_structured()
    record = partner_check.Record(b"coop-aurora", [], value, signed=False)
    who = partner_check.Partner("coop-aurora", "torino", None, None)
    key = partner_check.test_key(WORKED_EXAMPLE_INTAKE_KEY)
    try:
        notes = await partner_check.check(record, who, key, date.fromisoformat(TODAY))
    except ContractError as err:
        pytest.fail(f"refused: {err.kind} {err.field}: {err.reason}")
    assert [n for n in notes if not n.startswith("not signed")] == []


async def test_the_kit_and_the_gatekeeper_hold_a_sealed_values_kid_and_n_to_the_same_rule() -> None:
    """docs/partners.md, "Sealing": `kid` is `hpke:<intake key id>` and `n` the empty string. The kit refused a value
    breaking either while the gatekeeper stripped `hpke:` only if present and ignored `n`, so what the kit refused
    intake accepted. Both refuse it now, naming `data.identity.<field>.kid` or `.n`, with the same reason."""
    private = X25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    amina = pii.HPKE_SUITE.encrypt(b"Amina", X25519PublicKey.from_public_bytes(public), b"lgnet:ik-1:given_name")
    unprefixed = Sealed(kid="ik-1", n="", ct=base64.urlsafe_b64encode(amina).decode().rstrip("="))
    intake_public = base64.urlsafe_b64encode(public).decode().rstrip("=")
    with_nonce = pii.seal_for(intake_public, "ik-1", "given_name", "Amina").model_copy(update={"n": "q83vEjRWeJCrzeHy"})
    born = pii.seal_for(intake_public, "ik-1", "birth_date", "1991-04-02")

    async def key(_: str) -> X25519PrivateKey:
        return private

    async def never(_: str) -> bool:
        return False

    for value, field in ((unprefixed, "data.identity.given_name.kid"), (with_nonce, "data.identity.given_name.n")):
        identity = inbound.PartnerIdentityV2(given_name=value, birth_date=born)
        answers = []
        for judge in (rules.open_identity(identity, key, never), _form(identity)):
            with pytest.raises(ContractError) as refused, rules.partner_fields():
                await judge
            answers.append((refused.value.field, refused.value.reason))
        assert answers[0] == answers[1] and answers[0][0] == field, answers


async def _form(identity: inbound.PartnerIdentityV2) -> None:
    partner_check.check_sealed_form(identity)
