"""The desk's configuration, from the environment (refuses to start naming the variable at fault)."""

from __future__ import annotations

from typing import Literal

from lgnet_shared.cities import NATIONAL, city_of
from lgnet_shared.config import Port, city_named, database_url_checked, deployment_named
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lgnet_desk.domain.operators import SERVICES


class DeskSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = Field(alias="DATABASE_URL")
    db_schema: str = Field("desk", alias="LGNET_DB_SCHEMA")
    master_key: str = Field(alias="LGNET_MASTER_KEY", description="base64 of 32 bytes: seals the operators' tokens")
    intake_url: str = Field("http://127.0.0.1:8001", alias="LGNET_INTAKE_URL")
    housing_url: str = Field("http://127.0.0.1:8002", alias="LGNET_HOUSING_URL")
    payments_url: str = Field("http://127.0.0.1:8003", alias="LGNET_PAYMENTS_URL")
    # The services the city runs (DESIGN.md: a city may run only some): the desk shows only their pages and parts,
    # says a page of another is not used by the city (404), and never calls it. Intake always: the desk is its.
    services_run: str = Field(",".join(SERVICES), alias="LGNET_DESK_SERVICES")
    http_host: str = Field("127.0.0.1", alias="LGNET_HTTP_HOST")
    http_port: Port = Field(8005, alias="LGNET_HTTP_PORT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="LGNET_LOG_LEVEL")
    # Read as the services read them (lgnet_shared.config): a city's desk names its city, and its log lines and
    # /metrics (`lgnet_deployment_info`) its deployment. `national`: the demo's desk of every city's operators. A
    # desk given its deployment only (the federated stacks gave it so) is of the deployment's city.
    city_set: str | None = Field(
        None,
        alias="LGNET_CITY",
        description="the city whose desk this is (one of the 16), as its services' LGNET_CITY (default: the city of"
        " LGNET_DEPLOYMENT, else 'national': a desk of several cities' operators, make up's)",
    )
    deployment: str | None = Field(
        None,
        alias="LGNET_DEPLOYMENT",
        description="the deployment its log lines and metrics name, as its services' (default: the city)",
    )
    # Secure cookies need HTTPS; a desk behind a TLS proxy keeps the default. Only plain-HTTP development turns it off.
    cookie_secure: bool = Field(True, alias="LGNET_DESK_COOKIE_SECURE")
    session_minutes: int = Field(480, alias="LGNET_DESK_SESSION_MINUTES", gt=0)
    # a session lapses after this long without a page too (a desk's computer left unattended); what a form sent
    # after it had lapsed held is given back after the login (service_layer/kept_forms.py)
    idle_minutes: int = Field(30, alias="LGNET_DESK_IDLE_MINUTES", gt=0)
    max_failures: int = Field(5, alias="LGNET_DESK_MAX_FAILURES", gt=0)
    lockout_minutes: int = Field(15, alias="LGNET_DESK_LOCKOUT_MINUTES", gt=0)
    # failed logins from one client address, on any account, within LGNET_DESK_LOCKOUT_MINUTES: then it is refused
    client_max_failures: int = Field(20, alias="LGNET_DESK_CLIENT_MAX_FAILURES", gt=0)
    # the reverse proxies whose X-Forwarded-For names the client (uvicorn's forwarded_allow_ips): the login throttle
    # counts by that address
    forwarded_allow_ips: str = Field("127.0.0.1", alias="LGNET_DESK_FORWARDED_ALLOW_IPS")

    # The privacy notice (GDPR art. 13): who the controller is and how to reach its data-protection officer, and how
    # long the data are kept. Each city sets its own; unset, the notice names "Comune di <city>" and sends the person
    # to the desk for the officer's contacts.
    privacy_controller: str | None = Field(None, alias="LGNET_DESK_PRIVACY_CONTROLLER")
    privacy_dpo_contact: str | None = Field(None, alias="LGNET_DESK_PRIVACY_DPO_CONTACT")
    privacy_retention: str | None = Field(None, alias="LGNET_DESK_PRIVACY_RETENTION")

    # OpenID Connect login (authorization code + PKCE) when an issuer is configured; the operator must exist in the
    # desk (lgnet-desk-admin) under the claim named by oidc_username_claim.
    oidc_issuer: str | None = Field(None, alias="LGNET_DESK_OIDC_ISSUER")
    oidc_client_id: str | None = Field(None, alias="LGNET_DESK_OIDC_CLIENT_ID")
    oidc_client_secret: str | None = Field(None, alias="LGNET_DESK_OIDC_CLIENT_SECRET")
    oidc_redirect_url: str | None = Field(None, alias="LGNET_DESK_OIDC_REDIRECT_URL")
    oidc_username_claim: str = Field("preferred_username", alias="LGNET_DESK_OIDC_USERNAME_CLAIM")

    @field_validator("database_url")
    @classmethod
    def _pg(cls, v: str) -> str:
        return database_url_checked(v)

    @field_validator("services_run")
    @classmethod
    def _services_known(cls, value: str) -> str:
        named = {s.strip() for s in value.split(",") if s.strip()}
        if unknown := sorted(named - set(SERVICES)):
            raise ValueError(f"{', '.join(unknown)}: not a service of the desk (one or more of {', '.join(SERVICES)})")
        if "intake" not in named:
            raise ValueError("must name intake: the desk cannot work without it (e.g. intake,housing)")
        return ",".join(s for s in SERVICES if s in named)

    @field_validator("city_set")
    @classmethod
    def _city(cls, value: str | None) -> str | None:
        return None if value is None or value == "" else city_named(value)

    @field_validator("deployment")
    @classmethod
    def _deployment(cls, value: str | None, info: ValidationInfo) -> str | None:
        named = deployment_named(value, info.data.get("city_set"))
        if named is not None and "city_set" in info.data and info.data["city_set"] is None and city_of(named) is None:
            raise ValueError(f"{named!r} names no city: name it <city> or <city>-<suffix>, or set LGNET_CITY")
        return named

    @property
    def city(self) -> str:
        """LGNET_CITY, else the city of LGNET_DEPLOYMENT, else `national`."""
        return self.city_set or (city_of(self.deployment) if self.deployment else None) or NATIONAL

    @property
    def deployment_name(self) -> str:
        """LGNET_DEPLOYMENT, else the city (`bologna`, `national`), as the services' `Settings.deployment_name`."""
        return self.deployment or self.city

    @property
    def services(self) -> tuple[str, ...]:
        """The services the city runs, in the desk's order (intake first)."""
        return tuple(self.services_run.split(","))

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_redirect_url)

    def master_key_bytes(self) -> bytes:
        import base64

        try:
            key = base64.b64decode(self.master_key, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError("LGNET_MASTER_KEY: must be base64 of 32 bytes")
        return key

    def service_urls(self) -> dict[str, str]:
        """The address of each service the city runs (none for another: the desk never calls it). `…-read-log`:
        intake's and housing's read logs and payments' download log, with the DPO's read-log tokens (the DPO has no
        other service identity)."""
        urls = {"intake": self.intake_url, "housing": self.housing_url, "payments": self.payments_url}
        return {key: urls[s] for s in self.services for key in (s, f"{s}-read-log")}
