"""The national report's `build` alone on pickled report tables, timed in process CPU time and wall time: on a
machine loaded by other work, CPU time is inflated less than wall time, so two versions of the code alternated in
one sitting compare better by it.

    BENCH_FACTS=/tmp/facts1m.pickle BENCH_RUNS=3 .venv/bin/python bench/bench_national_build_cpu.py

BENCH_FACTS: the tables pickled by bench_national_report.py (required); BENCH_RUNS (default 3). Another version
of the code: PYTHONPATH=<its services/reporting/src>. Prints the medians and every run.
"""

from __future__ import annotations

import os
import pickle
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from lgnet_reporting.domain import national as nat
from lgnet_reporting.domain.canonical import digest
from lgnet_reporting.domain.indicators import Window
from lgnet_reporting.service_layer.reports import Request, build


def main() -> None:
    cache = os.environ.get("BENCH_FACTS")
    if not cache or not Path(cache).exists():
        sys.exit("BENCH_FACTS: the pickled tables of bench_national_report.py (run it with BENCH_FACTS first)")
    facts = pickle.loads(Path(cache).read_bytes())
    request = Request(nat.NATIONAL, nat.NATIONAL, Window(date(2026, 6, 30)))
    cpu, wall, digests = [], [], set()
    for _ in range(int(os.environ.get("BENCH_RUNS", "3"))):
        c, w = time.process_time(), time.perf_counter()
        doc = build(facts, request, 5)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
        digests.add(digest(doc))
    runs = f"{[round(x, 2) for x in cpu]}  wall {statistics.median(wall):.2f} {[round(x, 2) for x in wall]}"
    print(f"cpu {statistics.median(cpu):.2f} {runs}  digest {sorted(digests)[0][:8]}")


if __name__ == "__main__":
    main()
