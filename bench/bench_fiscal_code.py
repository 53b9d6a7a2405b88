"""What intake's fiscal-code check costs per registration (`lgnet_intake.domain.people.fiscal_code`), against the
check it replaced (python-codicefiscale's full `decode`, kept here as the baseline), in the same run, alternated;
and what the first check costs in a fresh process (the library builds its index of places on first use).

    .venv/bin/python bench/bench_fiscal_code.py

BENCH_CODES (default 2000) checks per run, BENCH_RUNS (default 5) runs of each; codes of persons born abroad (Z…,
most of the platform's) and in Italian cities (Rome's and Milan's codes have many historical entries). Prints the
medians of CPU µs per check.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date

from codicefiscale import codicefiscale
from lgnet_intake.domain import people
from lgnet_shared.errors import ContractError

CODES = int(os.environ.get("BENCH_CODES", "2000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
MONTHS = "ABCDEHLMPRST"
ABROAD = ["Z335", "Z330", "Z100", "Z216", "Z336", "Z209"]
ITALY = ["H501", "F205", "L219", "L424", "A562", "D969"]


def decode_check(code: str, *, birth_date: date, sex: str) -> str:
    """The check as it was: the library's decode, then the birth date and sex compared."""
    normalised = code.strip().upper().replace(" ", "")
    if not codicefiscale.CODICEFISCALE_RE.match(normalised.lower()):
        raise ContractError("fiscal_code", "format")
    if codicefiscale.encode_cin(normalised[:15]) != normalised[15]:
        raise ContractError("fiscal_code", "check character")
    decoded = codicefiscale.decode(normalised)
    if decoded["birthdate"].date() != birth_date or decoded["gender"] != sex[0].upper():
        raise ContractError("fiscal_code", "does not match")
    return normalised


def sample(places: list[str], n: int) -> list[tuple[str, date, str]]:
    rng = random.Random(7)
    out = []
    for _ in range(n):
        born = date.fromordinal(rng.randint(date(1940, 1, 1).toordinal(), date(2024, 12, 31).toordinal()))
        female = rng.random() < 0.5
        body = f"RSSMRA{born.year % 100:02d}{MONTHS[born.month - 1]}{born.day + 40 * female:02d}{rng.choice(places)}"
        out.append((body + codicefiscale.encode_cin(body), born, "female" if female else "male"))
    return out


def cpu_per_check(check: Callable[..., str], codes: list[tuple[str, date, str]]) -> float:
    start = time.process_time()
    for code, born, sex in codes:
        check(code, birth_date=born, sex=sex)
    return (time.process_time() - start) / len(codes) * 1e6


FIRST = """
import time
from datetime import date
from lgnet_intake.domain import people
start = time.process_time()
people.fiscal_code("KNKMNA90E41Z335B", birth_date=date(1990, 5, 1), sex="female")
print(time.process_time() - start)
"""


def main() -> None:
    print(f"codes={CODES} runs={RUNS} (medians, CPU µs per check)")
    for label, places in (("born abroad", ABROAD), ("born in Italy", ITALY)):
        codes = sample(places, CODES)
        for code, born, sex in codes[:50]:  # both checks accept every sample alike
            assert decode_check(code, birth_date=born, sex=sex) == people.fiscal_code(code, birth_date=born, sex=sex)
        old, new = [], []
        for _ in range(RUNS):
            old.append(cpu_per_check(decode_check, codes))
            new.append(cpu_per_check(people.fiscal_code, codes))
        o, n = statistics.median(old), statistics.median(new)
        print(f"{label:14s}: decode {o:8.1f}   now {n:8.1f}   ({o / n:.1f}x)")
    firsts = [float(subprocess.run([sys.executable, "-c", FIRST], capture_output=True, text=True, check=True).stdout)]
    firsts += [float(subprocess.run([sys.executable, "-c", FIRST], capture_output=True, text=True, check=True).stdout)]
    print(f"first check in a fresh process: {statistics.median(firsts) * 1e3:.0f} ms CPU")


if __name__ == "__main__":
    main()
