"""`lgnet-audit keys` names the registry records that register nothing (an outside auditor: a key the admin wrote to
national intake's registry naming torino's payments was dropped without a word — evidence of a compromised
deployment or an operator's mistake). Against real Kafka."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from lgnet_reporting.entrypoints import audit
from lgnet_shared.fact_signing import FactSigner, publish_key, registry_topic
from lgnet_shared.kafka import client_kwargs

pytestmark = pytest.mark.integration


def test_keys_lists_the_registry_records_it_ignores_with_their_place_and_reason(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = FactSigner(os.urandom(32), "national", "intake", "national").key
    forged = FactSigner(os.urandom(32), "torino", "payments", "torino").key

    async def register() -> None:
        producer = AIOKafkaProducer(**client_kwargs(kafka_bootstrap))
        await producer.start()
        try:
            await publish_key(producer, genuine, topic_prefix)
            topic = registry_topic("national", "intake", topic_prefix)
            await producer.send_and_wait(topic, forged.to_json(), key=forged.key_id.encode())  # compacted: keyed
        finally:
            await producer.stop()

    asyncio.run(register())
    out = tmp_path / "keys.json"
    with pytest.raises(SystemExit) as ended:
        audit.main(["--topic-prefix", topic_prefix, "keys", "--out", str(out)])
    printed, table = capsys.readouterr()
    assert ended.value.code in (0, None), printed
    line = json.loads(printed.strip().splitlines()[-1])
    assert line["keys"] == 1 and [k["key_id"] for k in json.loads(out.read_text())["keys"]] == [genuine.key_id]
    topic = registry_topic("national", "intake", topic_prefix)
    reason = (
        f"key {forged.key_id} of torino.payments on national.intake's registry: a deployment registers its own keys"
        " only"
    )
    assert line["ignored"] == [{"topic": topic, "offset": 1, "reason": reason}], line
    assert f"IGNORED {topic} partition 0 offset 1: {reason}" in table, table
