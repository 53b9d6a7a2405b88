"""CloudEvents envelope: structured and binary Kafka modes, and rejections that name the attribute."""

from __future__ import annotations

import json
from datetime import date

import pytest
from lgnet_shared.codec import caused_by, decode, to_envelope
from lgnet_shared.envelope import STRUCTURED_CONTENT_TYPE, from_record
from lgnet_shared.errors import ContractError, InvalidEventData, NotACloudEvent, NotJson, UnknownEventType
from lgnet_shared.events.intake import CaseOpened, PersonRegistered, PersonRegisteredV1


def case() -> CaseOpened:
    return CaseOpened(
        case_id="c1",
        household_id="h1",
        city="trieste",
        action_area="housing_inclusion",
        channel="desk",
        partner="coop-a",
        opened_on=date(2026, 2, 1),
        housing_need=True,
    )


def test_structured_round_trip_keeps_every_attribute() -> None:
    env = to_envelope(
        case(),
        source="/lgnet/intake",
        city="trieste",
        partner="coop-a",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    value, headers = env.to_structured()
    assert dict(headers)["content-type"] == STRUCTURED_CONTENT_TYPE.encode()
    back = from_record(value, headers, env.key)
    assert back == env
    assert back.partitionkey == "c1" and env.key == b"c1"
    assert back.dataschema == "urn:lgnet:schema:lgnet.intake.case_opened:v2"
    assert back.correlationid == env.id  # a conversation starts with its own id
    assert decode(back) == case()


def test_binary_mode_from_a_partner_is_accepted() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e-1"),
        ("ce_source", b"/partners/coop-a"),
        ("ce_type", b"lgnet.intake.case_opened"),
        ("ce_time", b"2026-02-01T09:00:00+01:00"),
        ("ce_city", b"trieste"),
        ("ce_partner", b"coop-a"),
        ("content-type", b"application/json"),
    ]
    env = from_record(json.dumps(case().model_dump(mode="json")).encode(), headers, key=b"c1")
    assert env.partitionkey == "c1" and env.partner == "coop-a"
    assert env.time.utcoffset() is not None and env.time.hour == 8  # normalised to UTC
    assert decode(env) == case()


def test_causation_and_correlation_propagate() -> None:
    parent = to_envelope(case(), source="/lgnet/intake", city="trieste", partner="coop-a")
    child = caused_by(parent, case(), source="/lgnet/housing")
    assert child.causationid == parent.id and child.correlationid == parent.correlationid
    assert child.city == "trieste" and child.partner == "coop-a" and child.id != parent.id


BINARY = {"specversion": "1.0", "id": "x", "source": "/p", "type": "t", "city": "roma", "partitionkey": "k"}


def test_a_time_as_rfc_3339_is_read_in_both_modes() -> None:
    structured = from_record(
        b'{"specversion": "1.0", "id": "x", "source": "/p", "type": "t", "city": "roma", "partitionkey": "k",'
        b' "time": "2026-12-06T10:30:00+01:00", "data": {}}'
    )
    binary = from_record(b"{}", [(f"ce_{k}", v.encode()) for k, v in {**BINARY, "time": "2026-12-06T09:30Z"}.items()])
    assert structured.time == binary.time and structured.time.isoformat() == "2026-12-06T09:30:00+00:00"


@pytest.mark.parametrize(
    ("value", "headers", "error", "field"),
    [
        (b"\xff\xfe", [], NotJson, ""),
        (b"[1, 2]", [], NotACloudEvent, ""),
        (b'{"id": "x"}', [], NotACloudEvent, "specversion"),
        (
            b'{"specversion": "1.0", "id": "x", "source": "/p", "type": "t", "partitionkey": "k", "data": {}}',
            [],
            NotACloudEvent,
            "city",
        ),
        (
            b'{"specversion": "0.3", "id": "x", "source": "/p", "type": "t", "city": "roma", "partitionkey": "k",'
            b' "data": {}}',
            [],
            NotACloudEvent,
            "specversion",
        ),
        (
            b'{"specversion": "1.0", "id": "x", "source": "/p", "type": "t", "city": "roma", "partitionkey": "k",'
            b' "time": "2026-01-01T10:00:00", "data": {}}',
            [],
            NotACloudEvent,
            "time",
        ),
        # A time is an RFC 3339 string: a number (or a string of digits) was read as a Unix timestamp, `0` as 1970.
        *(
            (
                b'{"specversion": "1.0", "id": "x", "source": "/p", "type": "t", "city": "roma", "partitionkey": "k",'
                b' "time": ' + when + b', "data": {}}',
                [],
                NotACloudEvent,
                "time",
            )
            for when in (b"0", b"1764979200.5", b'"1764979200"')
        ),
        (
            b"{}",
            [(f"ce_{k}", v.encode()) for k, v in {**BINARY, "time": "1764979200"}.items()],
            NotACloudEvent,
            "time",
        ),
        (b"not json", [("ce_specversion", b"1.0")], NotJson, "data"),
        # CloudEvents requires id and specversion: the reader never invents them.
        (
            b'{"specversion": "1.0", "source": "/p", "type": "t", "city": "roma", "partitionkey": "k", "data": {}}',
            [],
            NotACloudEvent,
            "id",
        ),
        (
            b"{}",
            [
                ("ce_specversion", b"1.0"),
                ("ce_source", b"/p"),
                ("ce_type", b"t"),
                ("ce_city", b"roma"),
                ("ce_partitionkey", b"k"),
            ],
            NotACloudEvent,
            "id",
        ),
        # Control characters are not CloudEvents strings (and PostgreSQL refuses NUL in text).
        (
            b'{"specversion": "1.0", "id": "a\\u0000b", "source": "/p", "type": "t", "city": "roma",'
            b' "partitionkey": "k", "data": {}}',
            [],
            NotACloudEvent,
            "id",
        ),
        (b"[" * 100_000 + b"]" * 100_000, [], NotJson, ""),
        (b'{"specversion": "1.0", "id": ' + b"9" * 5000 + b"}", [], NotJson, ""),
        (b"[" * 100_000 + b"]" * 100_000, [("ce_specversion", b"1.0")], NotJson, "data"),
    ],
)
def test_bad_records_name_the_field(
    value: bytes, headers: list[tuple[str, bytes]], error: type[ContractError], field: str
) -> None:
    with pytest.raises(error) as info:
        from_record(value, headers, partner=True)
    assert info.value.field == field
    if b'"time": "1764979200"' not in value:  # facts are read in one pass: numbers refused there too
        with pytest.raises(error) as info:
            from_record(value, headers)
        assert info.value.field == field


def test_unknown_type_version_and_invalid_data_name_the_field() -> None:
    env = to_envelope(case(), source="/p", city="trieste")
    with pytest.raises(UnknownEventType) as info:
        decode(env.model_copy(update={"type": "lgnet.intake.nope"}))
    assert info.value.field == "type"
    with pytest.raises(UnknownEventType) as info:
        decode(env.model_copy(update={"dataschema": "urn:lgnet:schema:lgnet.intake.case_opened:v9"}))
    assert info.value.field == "dataschema"
    with pytest.raises(InvalidEventData) as invalid:
        decode(env.model_copy(update={"data": {**env.data, "channel": "carrier-pigeon"}}))
    assert invalid.value.field == "data.channel"
    with pytest.raises(InvalidEventData) as invalid:
        decode(env.model_copy(update={"data": {**env.data, "unexpected": 1}}))
    assert invalid.value.field == "data.unexpected"


def test_old_versions_are_upcast_on_read() -> None:
    old = PersonRegisteredV1(
        person_id="p1", registered_by="coop-a", birth_date=date(1990, 5, 1), sex="female", nationality="NG"
    )
    env = to_envelope(old, source="/p", city="torino")
    assert env.dataschema is not None and env.dataschema.endswith(":v1")
    current = decode(env)
    assert isinstance(current, PersonRegistered) and current.version == 4 and current.third_country is True


def test_binary_mode_is_decided_by_a_ce_specversion_header_with_a_value() -> None:
    """The one rule `from_record` and the one-pass readers share: other ce_* headers, or a ce_specversion without
    a value, leave a record in structured mode; the header's name is case-insensitive."""
    from lgnet_shared.envelope import is_binary_mode

    assert is_binary_mode([("traceparent", b"00-x"), ("CE_SpecVersion", b"1.0")])
    assert not is_binary_mode([])
    assert not is_binary_mode([("ce_type", b"lgnet.intake.person_registered"), ("ce_id", b"1")])
    assert not is_binary_mode([("ce_specversion", None)])  # type: ignore[list-item]
    assert not is_binary_mode([("ce_specversionx", b"1.0")])


def test_a_record_in_utf16_is_not_json_as_the_contract_reads_it() -> None:
    """From an outside test: a partner's record in UTF-16 (with a byte-order mark) was read and processed, while the
    contract says a value is UTF-8 JSON (`not_json` otherwise); json.loads of bytes detects UTF-16 and UTF-32."""
    env = to_envelope(case(), source="/partners/coop-a", city="trieste", partner="coop-a")
    value, headers = env.to_structured()
    for encoded in (value.decode().encode("utf-16"), value.decode().encode("utf-32"), b"\xef\xbb\xbf" + value):
        with pytest.raises(NotJson):
            from_record(encoded, headers, env.key)
    assert from_record(value, headers, env.key) == env
