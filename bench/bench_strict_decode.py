"""The cost of reading partners' events strictly (JSON types as the published schema says) on the gatekeeper's hot
path: `codec.decode(env, strict=True)` against the lenient `codec.decode(env)` it replaced, per record, on the
events partners send most (a v2 registration with three sealed fields, a case opening).

    .venv/bin/python bench/bench_strict_decode.py      # BENCH_RECORDS (default 20000), BENCH_RUNS (default 7)

Prints the median µs per record of each way and the ratio, measured in the same run.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable
from datetime import date

from lgnet_shared import pii
from lgnet_shared.codec import decode, to_envelope
from lgnet_shared.envelope import Envelope
from lgnet_shared.events import Event
from lgnet_shared.events import partner as inbound

RECORDS = int(os.environ.get("BENCH_RECORDS", "20000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def envelopes() -> dict[str, Envelope]:
    _, public = pii.hpke_keypair()
    sealed = {f: pii.seal_for(public, "ik-1", f, "x" * 12) for f in ("given_name", "family_name", "birth_date")}
    events: dict[str, Event] = {
        "registration v2": inbound.PersonRegistrationSubmitted(
            person_id="p-1",
            sex="female",
            nationality="NG",
            languages=["en"],
            identity=inbound.PartnerIdentityV2(**sealed),
        ),
        "case opening": inbound.CaseOpeningSubmitted(
            case_id="c-1", household_id="h-1", action_area="taking_charge", channel="desk", opened_on=date(2026, 11, 30)
        ),
    }
    return {
        n: to_envelope(e, source="/partners/coop-aurora", city="torino", partner="coop-aurora")
        for n, e in events.items()
    }


def per_record(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(RECORDS):
        run()
    return (time.perf_counter() - start) / RECORDS * 1e6


def main() -> None:
    print(f"{RECORDS} records per run, {RUNS} runs, medians (µs per record)")
    for name, env in envelopes().items():
        lax = statistics.median(per_record(functools.partial(decode, env)) for _ in range(RUNS))
        strict = statistics.median(per_record(functools.partial(decode, env, strict=True)) for _ in range(RUNS))
        print(f"{name:16} lenient {lax:6.1f}   strict {strict:6.1f}   ratio {strict / lax:4.2f}")


if __name__ == "__main__":
    main()
