"""Service configuration from the environment (pydantic-settings), validated at start-up.

A bad or missing setting stops the service before it touches Kafka or PostgreSQL, with a message naming the
variable and the reason (see `load`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lgnet_shared.pii import parse_master_key

CITIES = (
    "bologna",
    "bolzano",
    "caserta",
    "firenze",
    "genova",
    "latina",
    "milano",
    "napoli",
    "palermo",
    "perugia",
    "potenza",
    "roma",
    "sassari",
    "taranto",
    "torino",
    "trieste",
)
NATIONAL = "national"


class Settings(BaseSettings):
    """Every variable a service reads. Names are LGNET_<FIELD> unless an alias is shown."""

    model_config = SettingsConfigDict(env_prefix="LGNET_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "LGNET_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers, host:port[,host:port]",
    )
    database_url: SecretStr = Field(
        validation_alias=AliasChoices("DATABASE_URL", "LGNET_DATABASE_URL"),
        description="PostgreSQL URL, postgresql://user:password@host:port/database",
    )
    city: str = Field(description="City this deployment serves (one of the 16), or 'national'")
    master_key: SecretStr = Field(description="Base64 of 32 random bytes; wraps the per-person keys")
    db_schema: str | None = Field(default=None, description="PostgreSQL schema; default: the service name")
    topic_prefix: str = Field(default="", description="Prefix of every topic name (shared clusters, tests)")
    topic_replication: int = Field(default=1, ge=1, description="Replication factor of topics created")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds")
    http_port: int | None = Field(default=None, ge=1, le=65535, description="HTTP port; default per service")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    consumer_stuck_after_s: float = Field(
        default=120,
        gt=0,
        description="Seconds a consumer may wait on one offset before /health/ready reports it stuck",
    )
    traces_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        validation_alias=AliasChoices("OTEL_TRACES_EXPORTER", "LGNET_TRACES_EXPORTER"),
        description="Where spans go: none (context still propagates, spans are not recorded), console, or otlp"
        " (OTEL_EXPORTER_OTLP_ENDPOINT etc.; sampling by OTEL_TRACES_SAMPLER)",
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _hosts(cls, v: str) -> str:
        if not all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]:]+:\d+", h.strip()) for h in v.split(",")):
            raise ValueError("must be host:port[,host:port]")
        return v

    @field_validator("database_url")
    @classmethod
    def _pg(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return v

    @field_validator("city")
    @classmethod
    def _city(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in (*CITIES, NATIONAL):
            raise ValueError(f"must be one of {', '.join(CITIES)} or {NATIONAL}")
        return v

    @field_validator("master_key")
    @classmethod
    def _key(cls, v: SecretStr) -> SecretStr:
        parse_master_key(v.get_secret_value())
        return v

    @property
    def city_filter(self) -> str | None:
        """None for a national deployment (every city's events), else the city."""
        return None if self.city == NATIONAL else self.city

    def master_key_bytes(self) -> bytes:
        return parse_master_key(self.master_key.get_secret_value())


class ConfigError(SystemExit):
    pass


def load() -> Settings:
    """Settings from the environment, or exit with one line per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            var = {
                "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
                "database_url": "DATABASE_URL",
                "traces_exporter": "OTEL_TRACES_EXPORTER",
            }.get(name, f"LGNET_{name.upper()}")
            lines.append(f"  {var}: {err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
