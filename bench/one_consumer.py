"""The service the backbone and connection benches start in their own process: intake's name (a service that may
write intake.events, so its signed facts pass the consumer's check), one consumer group `bench` on intake.events
with the bench's handler, an `effects` table, in the bench's own schema and under its own topic prefix."""

from __future__ import annotations

import base64
import hashlib

from lgnet_shared import config
from lgnet_shared.consumer import Handler, handlers_of
from lgnet_shared.events.intake import EmploymentRecorded
from lgnet_shared.service import ConsumerSpec, Runtime, ServiceSpec


def runtime(
    bootstrap: str, database_url: str, schema: str, prefix: str, handler: Handler, signed: bool = True
) -> Runtime:
    """Signed (the default since #16): the relay signs every fact, the consumer verifies it against the key
    registry. Unsigned: the consumer does not ask (LGNET_FACT_SIGNATURES=off; the caller takes the relay's signer
    away). The master key is the schema's own, so a schema can be started again."""
    spec = ServiceSpec(
        name="intake",
        default_port=0,
        migrations=[("bench-1", "create table if not exists effects (event_id text primary key)")],
        consumers=lambda _: [ConsumerSpec("bench", ["intake.events"], handlers_of((EmploymentRecorded, handler)))],
    )
    settings = config.Settings(
        kafka_bootstrap_servers=bootstrap,
        database_url=database_url,
        city="national",
        db_schema=schema,
        topic_prefix=prefix,
        master_key=base64.b64encode(hashlib.sha256(schema.encode()).digest()).decode(),
        fact_signatures="required" if signed else "off",
    )
    return Runtime(spec, settings)
