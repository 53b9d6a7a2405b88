"""Every LGNET_* environment variable a command of LgNet reads — the services, the desk, the scheduler, the notary,
the admin commands, `make up`'s launchers, the tests and benchmarks — so that a name outside them, a typo, is said at
start (`unknown`): a misspelled LGNET_DB_SCHEMA was ignored in silence, and the service made and migrated the default
schema.
`shared/tests/test_variables.py` holds this list to every name the repository's code and configuration files use."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

# Each component's address, port and schema, as the launchers, the desk and lgnet-partner-admin name them.
COMPONENTS = ("INTAKE", "HOUSING", "PAYMENTS", "REPORTING", "DESK", "SCHEDULER", "NOTARY")
PER_COMPONENT = frozenset(f"LGNET_{c}_{what}" for c in COMPONENTS for what in ("URL", "PORT", "DB_SCHEMA"))

KNOWN = PER_COMPONENT | frozenset(
    {
        "LGNET_ADMIN_BY",
        "LGNET_ANSWER_KEYS",
        "LGNET_APPOINTMENT_AT",
        "LGNET_BROKER_LOSS_SCALE",
        "LGNET_BROKER_LOSS_SEED",
        "LGNET_BUNDLE",
        "LGNET_CA_FILE",
        "LGNET_CHROMIUM",
        "LGNET_CITY",
        "LGNET_CONSUMER_COMMIT_INTERVAL_MS",
        "LGNET_CONSUMER_FETCH_MAX_WAIT_MS",
        "LGNET_CONSUMER_FETCH_MIN_BYTES",
        "LGNET_CONSUMER_IDLE_FETCH_MAX_WAIT_MS",
        "LGNET_CONSUMER_STUCK_AFTER_S",
        "LGNET_CPU_PROFILE_DIR",
        "LGNET_CPU_PROFILE_SELF",
        "LGNET_CRASH_SCALE",
        "LGNET_CRASH_SEED",
        "LGNET_DATABASE_URL",
        "LGNET_DB_SCHEMA",
        "LGNET_DEPLOYMENT",
        "LGNET_DESK_CLIENT_MAX_FAILURES",
        "LGNET_DESK_COOKIE_SECURE",
        "LGNET_DESK_FORWARDED_ALLOW_IPS",
        "LGNET_DESK_HOUSING_READ_LOG_TOKEN",
        "LGNET_DESK_IDLE_MINUTES",
        "LGNET_DESK_LOCKOUT_MINUTES",
        "LGNET_DESK_MAX_FAILURES",
        "LGNET_DESK_OIDC_CLIENT_ID",
        "LGNET_DESK_OIDC_CLIENT_SECRET",
        "LGNET_DESK_OIDC_ISSUER",
        "LGNET_DESK_OIDC_REDIRECT_URL",
        "LGNET_DESK_OIDC_USERNAME_CLAIM",
        "LGNET_DESK_PASSWORD",
        "LGNET_DESK_PAYMENTS_READ_LOG_TOKEN",
        "LGNET_DESK_PRIVACY_CONTROLLER",
        "LGNET_DESK_PRIVACY_DPO_CONTACT",
        "LGNET_DESK_PRIVACY_RETENTION",
        "LGNET_DESK_READ_LOG_TOKEN",
        "LGNET_DESK_SERVICES",
        "LGNET_DESK_SESSION_MINUTES",
        "LGNET_FACT_SIGNATURES",
        "LGNET_FUZZ_SECONDS",
        "LGNET_HTTP_HOST",
        "LGNET_HTTP_PORT",
        "LGNET_INBOUND_KEY_GRACE_HOURS",
        "LGNET_INBOUND_KEY_ROTATION_DAYS",
        "LGNET_INTAKE_DRAIN_OLD_INBOUND",
        "LGNET_INTAKE_EARLIEST_DATE",
        "LGNET_INTAKE_LOOKUP_CACHE_SECONDS",
        "LGNET_KAFKA_BOOTSTRAP_SERVERS",
        "LGNET_KAFKA_CONTROLLER_PORT",
        "LGNET_KAFKA_LIBS",
        "LGNET_KAFKA_NODES",
        "LGNET_KAFKA_PORT",
        "LGNET_KAFKA_SASL_MECHANISM",
        "LGNET_KAFKA_SASL_PASSWORD",
        "LGNET_KAFKA_SASL_USERNAME",
        "LGNET_KAFKA_SECURITY_PROTOCOL",
        "LGNET_KAFKA_SSL_CAFILE",
        "LGNET_LEGACY_DEPLOYMENTS",
        "LGNET_LOCAL_DIR",
        "LGNET_LOG_LEVEL",
        "LGNET_MASTER_KEY",
        "LGNET_NATIONAL_PSEUDONYM_KEY",
        "LGNET_NOTARY_EVERY",
        "LGNET_NOTARY_KEY",
        "LGNET_NOTARY_STATE",
        "LGNET_NOTARY_SWEEP",
        "LGNET_NOTARY_VERIFIER",
        "LGNET_PG_PORT",
        "LGNET_PG_RESTART_SCALE",
        "LGNET_PROGRAMME_CITIES",
        "LGNET_REPORTING_MIN_CELL",
        "LGNET_RUN",
        "LGNET_SANDBOX",
        "LGNET_SCHEDULER_AT",
        "LGNET_SCHEDULER_CITIES",
        "LGNET_SCHEDULER_JOBS_FILE",
        "LGNET_SCHEDULER_MAX_ATTEMPTS",
        "LGNET_SCHEDULER_MAX_CATCH_UP_DAYS",
        "LGNET_SCHEDULER_TICK_S",
        "LGNET_SCHEDULER_TOKENS",
        "LGNET_SCHEDULER_TOKENS_FILE",
        "LGNET_SCHEDULER_TZ",
        "LGNET_SERVED_CITIES",
        "LGNET_SIGNING_KEY",
        "LGNET_SIGNING_SEED",
        "LGNET_STORE_DURATIONS",
        "LGNET_TAKE_OVER_DEPLOYMENT",
        "LGNET_TEST_FORKSERVER",
        "LGNET_TEST_SCHEMA_POOL",
        "LGNET_THROWAWAY_INFRA",
        "LGNET_TOPIC_PREFIX",
        "LGNET_TOPIC_REPLICATION",
        "LGNET_TRACES_EXPORTER",
        "LGNET_WRITE_SCREENSHOTS",
    }
)


def unknown(environ: Mapping[str, str]) -> list[str]:
    """What to say of each LGNET_* name in `environ` that no command reads, with the nearest known name."""
    said = []
    for name in sorted(n for n in environ if n.startswith("LGNET_") and n not in KNOWN):
        near = difflib.get_close_matches(name, KNOWN, n=1, cutoff=0.8)
        said.append(f"{name} is not a variable LgNet reads" + (f" (did you mean {near[0]}?)" if near else ""))
    return said
