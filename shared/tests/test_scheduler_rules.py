"""The scheduler's rules: which days a daily job runs (a day done never again, catch-up after downtime, retries),
the local time of day in Europe/Rome across daylight saving, and the jobs file."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from lgnet_shared.scheduler.main import parse_jobs
from lgnet_shared.scheduler.rules import Entry, Job, Status, latest_due_day, plan

ROME = ZoneInfo("Europe/Rome")
EACH = Job("housing.stalled", "housing", "/matching/stalled-check", {"on": "{day}"}, catch_up="each")
LATEST = Job("intake.reminders", "intake", "/appointments/reminders", {"city": "{city}", "day": "{day}"}, "latest")
D = date(2026, 3, 10)


def done(*days: date) -> dict[date, Entry]:
    return {d: Entry(Status.DONE, 1) for d in days}


def runs(steps: list) -> list[date]:  # type: ignore[type-arg]
    return [s.day for s in steps if s.action == "run"]


def test_a_day_done_is_never_run_again() -> None:
    assert plan(EACH, D, done(D)) == []
    assert plan(LATEST, D, done(D - timedelta(1), D)) == []


def test_a_job_never_run_starts_with_the_latest_day() -> None:
    assert runs(plan(EACH, D, {})) == [D]


def test_missed_days_are_caught_up_in_order_after_downtime() -> None:
    steps = plan(EACH, D, done(D - timedelta(4)))
    assert runs(steps) == [D - timedelta(3), D - timedelta(2), D - timedelta(1), D]
    assert [s.reason for s in steps] == ["catch-up", "catch-up", "catch-up", "due"]


def test_catch_up_goes_back_at_most_the_window_and_records_older_days_skipped() -> None:
    steps = plan(EACH, D, done(D - timedelta(30)), max_catch_up_days=7)
    assert runs(steps) == [D - timedelta(n) for n in range(6, -1, -1)]
    skipped = [s.day for s in steps if s.action == "skip"]
    assert skipped == [D - timedelta(n) for n in range(29, 6, -1)]


def test_a_latest_only_job_skips_the_missed_days_and_runs_today() -> None:
    steps = plan(LATEST, D, done(D - timedelta(3)))
    assert [(s.day, s.action) for s in steps] == [(D - timedelta(2), "skip"), (D - timedelta(1), "skip"), (D, "run")]


def test_a_failed_or_interrupted_day_is_retried_until_the_attempts_run_out() -> None:
    ledger = {**done(D - timedelta(2)), D - timedelta(1): Entry(Status.FAILED, 2), D: Entry(Status.RUNNING, 1)}
    assert runs(plan(EACH, D, ledger, max_attempts=5)) == [D - timedelta(1), D]
    ledger[D - timedelta(1)] = Entry(Status.FAILED, 5)
    assert runs(plan(EACH, D, ledger, max_attempts=5)) == [D]
    # A latest-only job does not retry a day gone.
    assert runs(plan(LATEST, D, {D - timedelta(1): Entry(Status.FAILED, 1), D: Entry(Status.DONE, 1)})) == []


def test_the_day_becomes_due_at_the_local_time_in_rome_summer_and_winter() -> None:
    at = time(6, 0)
    # Winter (UTC+1): 04:59 UTC is 05:59 in Rome, yesterday is the latest due; 05:00 UTC is 06:00, today.
    assert latest_due_day(datetime(2026, 1, 15, 4, 59, tzinfo=UTC), at, ROME) == date(2026, 1, 14)
    assert latest_due_day(datetime(2026, 1, 15, 5, 0, tzinfo=UTC), at, ROME) == date(2026, 1, 15)
    # Summer (UTC+2): 04:00 UTC is already 06:00 in Rome.
    assert latest_due_day(datetime(2026, 7, 15, 4, 0, tzinfo=UTC), at, ROME) == date(2026, 7, 15)
    # Just after local midnight the local date is a day ahead of UTC's.
    assert latest_due_day(datetime(2026, 7, 15, 22, 30, tzinfo=UTC), time(0, 15), ROME) == date(2026, 7, 16)


def test_request_body_and_idempotency_key_fill_city_and_day() -> None:
    tomorrow = Job("r", "intake", "/appointments/reminders", {"city": "{city}", "day": "{day}"}, day_offset=1)
    assert tomorrow.request_body("torino", D) == {"city": "torino", "day": "2026-03-11"}
    assert EACH.idempotency_key("torino", D) == "lgnet-scheduler:housing.stalled:torino:2026-03-10"
    assert EACH.idempotency_key("torino", D) != EACH.idempotency_key("trieste", D)


def test_the_packaged_jobs_file_calls_each_route_with_the_body_it_takes() -> None:
    from importlib import resources

    text = resources.files("lgnet_shared.scheduler").joinpath("jobs.toml").read_text()
    jobs = parse_jobs(text)
    names = [j.name for j in jobs]
    assert names == ["housing.stalled_matches_and_holds", "payments.voucher_expiry", "intake.appointment_reminders"]
    reminders = jobs[-1]
    assert (reminders.service, reminders.path, reminders.catch_up) == ("intake", "/appointments/reminders", "latest")
    assert reminders.request_body("trieste", D) == {"day": "2026-03-10"}  # the city is the staff token's


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('jobs = [{ name = "x", service = "housing" }]', "lacks ['path']"),
        ('jobs = [{ name = "x", service = "kitchen", path = "/" }]', "unknown service"),
        ('jobs = [{ name = "x", service = "housing", path = "/", catch_up = "all" }]', "catch_up"),
        ("jobs = [", "not TOML"),
    ],
)
def test_a_bad_jobs_file_is_refused_naming_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("]", r"\]")):
        parse_jobs(text)


def test_the_jobs_of_a_service_given_no_token_are_not_run_and_said_once() -> None:
    """From an outside test: a city running housing without payments (Helm `services.payments.enabled=false`) got a
    scheduler whose packaged `payments.voucher_expiry` failed every day ("LookupError: no staff token of torino for
    payments"), logged at info while /health/ready said ok. The tokens say which services the scheduler may call: a
    service with none is not this deployment's, and its jobs are set aside with one warning at start; a service with
    tokens but not for a city still fails that city's runs, as a misconfiguration."""
    from lgnet_shared.scheduler.main import SchedulerSettings, runnable_jobs
    from structlog.testing import capture_logs

    jobs = SchedulerSettings(DATABASE_URL="postgresql://x@127.0.0.1/x").job_list()
    assert {j.service for j in jobs} >= {"housing", "payments", "intake"}
    with capture_logs() as said:
        kept = runnable_jobs(jobs, {"housing": {"torino": "lgn_h"}, "intake": {"torino": "lgn_i"}})
    assert kept == [j for j in jobs if j.service in ("housing", "intake")]
    assert [(e["log_level"], e["jobs"], e["services"]) for e in said] == [
        ("warning", "payments.voucher_expiry", "payments")], said  # fmt: skip
    assert "LGNET_SCHEDULER_TOKENS" in said[0]["event"]


def test_a_port_that_is_none_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the services and the desk refuse it: uvicorn took 99999 and listened on a port of the system's choosing."""
    from lgnet_shared import config
    from lgnet_shared.scheduler.main import SchedulerSettings

    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/x")
    monkeypatch.setattr("sys.argv", ["lgnet-scheduler"])
    for port in ("99999", "0"):
        monkeypatch.setenv("LGNET_HTTP_PORT", port)
        with pytest.raises(SystemExit) as stopped:
            config.of_command("lgnet-scheduler", SchedulerSettings)
        lines = str(stopped.value.code).splitlines()
        assert [x for x in lines if x.startswith("  LGNET_HTTP_PORT: Input should be")], lines


def test_the_schedulers_lines_carry_the_deployment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/operators.md: every line has `deployment`, the scheduler's (uvicorn's own lines) too; they had none. And
    its /metrics identifies the process as the services' and the desk's do, `lgnet_deployment_info{service,
    deployment,city} 1` ("Deployments on a shared cluster"): a city's scheduler and the national one could not be
    told apart."""
    import json
    import logging

    from lgnet_shared import serving
    from lgnet_shared.scheduler import main as scheduler_main
    from lgnet_shared.testing.logs import logging_kept

    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/x")
    monkeypatch.setenv("LGNET_CITY", "torino")
    monkeypatch.setenv("LGNET_DEPLOYMENT", "torino-north")
    monkeypatch.setenv("LGNET_SCHEDULER_TOKENS", json.dumps({"housing": {"torino": "t"}}))
    monkeypatch.setattr("sys.argv", ["lgnet-scheduler"])
    monkeypatch.setattr(scheduler_main, "create_app", lambda settings: "app")
    monkeypatch.setattr(serving, "listening_socket", lambda *_: None)  # uvicorn not started, no port taken
    monkeypatch.setattr(serving, "serve_on", lambda sock, app, **kw: None)
    with logging_kept():
        scheduler_main.main()
        capsys.readouterr()
        logging.getLogger("uvicorn.error").info("Started server process [1]")
        [line] = capsys.readouterr().out.splitlines()
    doc = json.loads(line)
    assert (doc["service"], doc["deployment"]) == ("scheduler", "torino-north"), doc
    assert doc["event"] == "Started server process [1]", doc
    from prometheus_client import generate_latest

    info = 'lgnet_deployment_info{city="torino",deployment="torino-north",service="scheduler"} 1.0'
    assert info in generate_latest().decode(), "the scheduler's /metrics names no deployment"
