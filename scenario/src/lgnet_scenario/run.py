"""`lgnet-scenario`: play the scenario against the running platform and print the headline reports.

    lgnet-scenario                 # default size: the programme's published figures for Trieste and Torino
    lgnet-scenario --scale 0.3     # a smaller city pair with the same proportions
    lgnet-scenario --once FILE     # do nothing but print the reports if FILE says the scenario already ran

Reads KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL (to provision the scenario's actors, as an operator would with
lgnet-admin), LGNET_TOPIC_PREFIX and LGNET_<SERVICE>_URL (default http://127.0.0.1:<port>, the port being
LGNET_<SERVICE>_PORT as `make up` starts the service on, 8001..8004 unless set).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lgnet_scenario import driver, outreach_steps, reports
from lgnet_scenario.housing_steps import call
from lgnet_scenario.platform import SERVICES, Endpoints, Platform, provision
from lgnet_scenario.population import DEFAULT_CITIES, scaled


async def main_async(args: argparse.Namespace) -> int:
    ep = Endpoints.from_env()
    cities = DEFAULT_CITIES if args.scale == 1 else scaled(args.scale)
    names = [c.city for c in cities]
    if args.once and args.once.exists():
        print(f"[scenario] already played ({args.once}); current reports:")
        platform = Platform(ep, await provision(ep, {c.city: c.partners for c in cities}))
        try:
            for city in names:
                body = await call(
                    platform.http("reporting", f"staff-{city}"), "GET", f"/reports/city_summary?city={city}"
                )
                print("  " + reports.headline(city, body))
                print("  " + outreach_steps.headline(city, body))
            national = await call(platform.http("reporting", "coordination"), "GET", "/reports/national")
            print("  " + _national_line(national))
        finally:
            await platform.close()
        _where(platform)
        return 0

    def progress(line: str) -> None:
        print(f"[scenario] {line}", flush=True)

    actors = await provision(ep, {c.city: c.partners for c in cities})
    truth = await driver.run(ep, cities=cities, seed=args.seed, progress=progress, actors=actors)
    platform = Platform(ep, actors)
    try:
        bodies = await reports.caught_up(platform, truth)
        for city, t in truth.cities.items():
            if extra := reports.beyond(t, bodies[city]["indicators"]):
                progress(
                    f"reporting for {city} counts {'; '.join(extra)}: another party wrote to this platform while the"
                    " scenario played (its records are in the reports below)"
                )
        truth.published = await reports.publish(platform, names, uuid.uuid4().hex[:8])
        national = await call(platform.http("reporting", "coordination"), "GET", "/reports/national")
    finally:
        await platform.close()
    print(f"\n[scenario] done in {truth.seconds:.0f} s. Headline reports (as of today):")
    for city in names:
        print("  " + reports.headline(city, bodies[city]))
        print("  " + outreach_steps.headline(city, bodies[city]))
    print("  " + _national_line(national))
    for scope, pub in truth.published.items():
        print(f"  published {scope:9} report {pub.get('report_id', '?')} digest {str(pub.get('digest', ''))[:16]}…")
    _where(platform)
    if args.once:
        args.once.parent.mkdir(parents=True, exist_ok=True)
        args.once.write_text(json.dumps(asdict(truth), default=str, indent=2))
    return 0


def _national_line(body: dict[str, Any]) -> str:
    ind = body["indicators"]
    hidden = body.get("suppression", {}).get("hidden_cells", 0)
    return (
        f"National {ind['persons']['total']} beneficiaries in {ind['households']['total']} households, "
        f"{ind['persons']['minors']} minors, {len(body.get('by_city', {}))} cities ({hidden} small cells suppressed)"
    )


def _where(platform: Platform) -> None:
    """Where to look next. The tokens are the scenario's own (local development); the dashboard reads them from
    the URL fragment, which never reaches the server."""
    urls, tokens = platform.ep.urls, platform.actors.tokens
    print(f"\n  Dashboard (Torino staff)  {urls['reporting']}/dashboard#token={tokens[('reporting', 'staff-torino')]}")
    print(
        f"  Dashboard (national)      {urls['reporting']}/dashboard#report=national&token="
        f"{tokens[('reporting', 'coordination')]}"
    )
    if auditor := tokens.get(("reporting", "audit-office")):  # read-only, every city, no drill-down (reporting.md)
        page = f"{urls['reporting']}/dashboard#city=trieste&report=city_summary&token={auditor}"
        print(f"  Dashboard (auditor)       {page}")
    print("  API docs                  " + "  ".join(f"{urls[s]}/docs" for s in SERVICES))
    print(
        f"  Exports                   curl -H 'Authorization: Bearer {tokens[('reporting', 'staff-torino')]}' "
        f"'{urls['reporting']}/reports/city_summary/export?city=torino&format=xlsx' -o torino.xlsx  (csv, xlsx, pdf)"
    )
    print("  Logs                      .local/logs/<service>.log;  stop everything with `make down`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lgnet-scenario", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="size relative to the published figures (default 1)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--once", type=Path, help="marker file: play only if it does not exist, then write the truth to it"
    )
    args = parser.parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except (RuntimeError, TimeoutError, KeyError) as exc:
        print(f"[scenario] failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
