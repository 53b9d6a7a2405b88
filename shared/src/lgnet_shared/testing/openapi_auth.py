"""What a client generated from a service's OpenAPI document sends: its bearer token and its Idempotency-Key only
where the document declares them. Every operation but the public ones (metrics, a page that asks for the token
itself) declares the bearer scheme; every create (an operation answering 201) requires its Idempotency-Key, at most
200 characters, and every other state change takes one optionally (`replayable`, `transition`: a key is accepted,
its absence too)."""

from __future__ import annotations

from typing import Any

KEY = "idempotency-key"
# What every service answers without a token: its probes and its Prometheus scrape.
PROBES = {"GET /health/live", "GET /health/ready", "GET /metrics"}
CHANGES = {"post", "put", "patch", "delete"}


def _schemes(openapi: dict[str, Any]) -> set[str]:
    schemes = openapi.get("components", {}).get("securitySchemes", {})
    return {name for name, s in schemes.items() if s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"}


def auth_gaps(openapi: dict[str, Any], public: set[str], keyed: dict[str, bool] | None = None) -> list[str]:
    """'METHOD /path: what the document gets wrong', for every operation whose declared token or key is not what
    the server requires. `public`: the operations that need no token; `keyed`: whether an operation refuses a
    missing key, where that is not whether it answers 201."""
    bearer = _schemes(openapi)
    gaps = []
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            name = f"{method.upper()} {path}"
            declared = {s for req in op.get("security", []) for s in req}
            if name in public:
                if declared:
                    gaps.append(f"{name}: public, yet declares {sorted(declared)}")
            elif not declared & bearer:
                gaps.append(f"{name}: needs a bearer token, declares none")
            key = next((p for p in op.get("parameters", []) if p["in"] == "header" and p["name"].lower() == KEY), None)
            create = (keyed or {}).get(name, "201" in op.get("responses", {}))
            if method in CHANGES and key is None:
                continue  # tests/test_idempotent_routes.py says which must take one
            if key is not None and key.get("required", False) != create:
                gaps.append(f"{name}: Idempotency-Key required={key.get('required', False)}, the server: {create}")
            if key is not None and _max_length(key.get("schema", {})) != 200:
                gaps.append(f"{name}: Idempotency-Key without maxLength 200")
            if create and key is None:
                gaps.append(f"{name}: a create without its Idempotency-Key")
    return gaps


def _max_length(schema: dict[str, Any]) -> int | None:
    """A string's maxLength, an optional one's (`anyOf` with null) too."""
    return schema.get("maxLength") or next((s["maxLength"] for s in schema.get("anyOf", []) if "maxLength" in s), None)
