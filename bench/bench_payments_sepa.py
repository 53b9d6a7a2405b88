"""Benchmark: a disbursement batch of 100,000 payments written as SEPA pain.001.001.09 and validated in full.

Each run is a fresh process (so its peak memory is its own): it decrypts every beneficiary's sealed name and
IBAN (AES-GCM, as the service does when writing the file), writes the file as a stream with lxml
(lgnet_payments.adapters.sepa.pain001) and validates the whole of it against the official ISO 20022 XSD with
libxml2 (lxml, sepa.validate) — what the service does before it stores a batch's file. The baseline, measured
in the same run on the same bytes, is full `xmlschema` validation (lazy resource, what `sepaxml` uses).

    .venv/bin/python bench/bench_payments_sepa.py [--payments 100000] [--runs 3] [--baseline-runs 1]
    (no Kafka or PostgreSQL involved)

Goal: under 5 s for build + full validation on a quiet machine; peak memory under 400 MB. Prints medians over
the runs and the ratio baseline / lxml validation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time

EXECUTION = dt.date(2026, 12, 1)
CREATED = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
NAMES = ("Mario Rossi", "Amina Diallo", "Zoë Müller", "Nguyễn Văn An", "Oluwaseun Adeyemi", "Fatima Zahra El Idrissi")
IBANS = ("DE89370400440532013000", "IT60X0542811101000000123456", "FR1420041010050500013M02606", "NL91ABNA0417164300")


def child(n: int, baseline: bool) -> dict[str, float]:
    from lgnet_payments.adapters import sepa
    from lgnet_shared import pii

    key = os.urandom(32)
    sealed = [
        (
            pii.seal_with(key, f"household:h{i}", "name", NAMES[i % len(NAMES)]),
            pii.seal_with(key, f"household:h{i}", "iban", IBANS[i % len(IBANS)]),
        )
        for i in range(n)
    ]
    version = sepa.DEFAULT_VERSION
    sepa.schema(version)  # loading the XSD happens once per service process, not per batch
    started = time.perf_counter()
    transfers = [
        sepa.Transfer(
            f"{i:032x}",
            pii.open_with(key, name, "name"),
            pii.open_with(key, iban, "iban"),
            1_000 + i % 90_000,
            f"LgNet rent r{i}",
        )
        for i, (name, iban) in enumerate(sealed)
    ]
    decrypted = time.perf_counter()
    debtor = sepa.Debtor("Citta di Torino", IBANS[1])
    xml = sepa.pain001("LGNET-BENCH", debtor, EXECUTION, transfers, created_at=CREATED, validated=False)
    built = time.perf_counter()
    assert sepa.validate(xml, version) == n
    validated = time.perf_counter()
    out = {
        "decrypt_s": decrypted - started,
        "build_s": built - decrypted,
        "validate_s": validated - built,
        "build_validate_s": validated - decrypted,
        "total_s": validated - started,
        "bytes": float(len(xml)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if baseline:
        import xmlschema

        reference = xmlschema.XMLSchema(str(version.xsd))
        t = time.perf_counter()
        reference.validate(xmlschema.XMLResource(xml, lazy=True))
        out["baseline_validate_s"] = time.perf_counter() - t
        out["baseline_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(n: int, baseline: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", "--payments", str(n), "--baseline-runs", "1" if baseline else "0"]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--payments", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline-runs", type=int, default=1)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.payments, args.baseline_runs > 0)))
        return
    load = os.getloadavg()[0]
    results = [run_child(args.payments, i < args.baseline_runs) for i in range(args.runs)]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in results if key in r)

    print(f"pain.001.001.09 of {args.payments:,} payments, {args.runs} runs (medians), load {load:.1f} at start")
    for key in ("decrypt_s", "build_s", "validate_s", "build_validate_s", "total_s"):
        print(f"  {key:<22}{median(key):8.2f}")
    print(f"  {'file size':<22}{median('bytes') / 1e6:8.1f} MB")
    print(f"  {'peak memory (RSS)':<22}{median('peak_rss_mb'):8.0f} MB (before the baseline runs)")
    print(f"  goal < 5 s build + full validation: {'met' if median('build_validate_s') < 5 else 'NOT met'}")
    print(f"  goal < 400 MB peak: {'met' if median('peak_rss_mb') < 400 else 'NOT met'}")
    if any("baseline_validate_s" in r for r in results):
        base = median("baseline_validate_s")
        ratio = base / median("validate_s")
        print(f"  baseline: xmlschema full validation {base:.2f} s; ratio baseline / lxml = {ratio:.1f}x")
        print(f"  baseline peak memory {median('baseline_peak_rss_mb'):.0f} MB")


if __name__ == "__main__":
    main()
