"""What the profiled processes spent their CPU on (bench/cpu_profile/sitecustomize.py): CPU-seconds per service,
then the top frames by own and by inclusive share. `python report.py DIR [TOP]`."""

from __future__ import annotations

import collections
import sys
from pathlib import Path


def main(folder: str, top: int = 40) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    per_service: collections.Counter[str] = collections.Counter()
    total, interval = 0, 0.004
    for path in sorted(Path(folder).glob("*.txt")):
        service = "other"
        for line in path.read_text().splitlines():
            if line.startswith("# interval_s="):
                interval = float(line.split("=", 1)[1])
                continue
            stack, _, n = line.rpartition(" ")
            frames, count = stack.split(";"), int(n)
            total += count
            own[frames[-1]] += count
            for f in set(frames):
                inclusive[f] += count
                if "/entrypoints/main.py" in f:
                    service = f.split("(", 1)[1].split("/", 1)[0]
            per_service[service] += count
    services = ", ".join(f"{s} {n * interval:.1f}" for s, n in per_service.most_common())
    print(f"{total * interval:.1f} CPU-s sampled: {services}")
    for title, counter in (("own", own), ("inclusive", inclusive)):
        print(f"--- {title}")
        for frame, share in counter.most_common(top):
            print(f"{100 * share / max(1, total):5.1f} %  {frame}")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
