"""Backward compatibility of two JSON Schemas: can a reader of `new` accept every document valid under `old`?

Conservative rules for the subset pydantic emits (objects, arrays, scalars, enums, anyOf, $ref to $defs):
- a property of `old` must still exist in `new` (models forbid unknown fields);
- a property required by `new` must have been required by `old` (old writers may have left it out);
- a property's accepted values may only widen: same or more types and enum values, looser bounds, same pattern.
An upcaster can still change the data on read, but the schemas alone must already be compatible.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


def incompatibilities(old: Schema, new: Schema) -> list[str]:
    return _compare(old, new, old.get("$defs", {}), new.get("$defs", {}), "data")


def _resolve(node: Schema, defs: Schema) -> Schema:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(defs[ref.removeprefix("#/$defs/")], defs)
    return node


def _branches(node: Schema, defs: Schema) -> list[Schema]:
    node = _resolve(node, defs)
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        return [b for opt in options for b in _branches(opt, defs)]
    return [node]


def _compare(old: Schema, new: Schema, old_defs: Schema, new_defs: Schema, path: str) -> list[str]:
    new_branches = _branches(new, new_defs)
    if any(not b.get("type") and "enum" not in b and "const" not in b for b in new_branches):
        return []  # the new reader accepts anything here
    problems: list[str] = []
    for ob in _branches(old, old_defs):
        candidates = [nb for nb in new_branches if _kind(nb) == _kind(ob)]
        if not candidates:
            problems.append(f"{path}: {_kind(ob)} values are no longer accepted")
            continue
        # Enough that one branch of the new schema reads the old branch.
        attempts: list[list[str]] = [_compare_branch(ob, nb, old_defs, new_defs, path) for nb in candidates]
        best: list[str] = min(attempts, key=len)
        problems += best
    return problems


def _kind(node: Schema) -> str:
    if "const" in node or "enum" in node:
        return str(node.get("type", "enum"))
    return str(node.get("type", "any"))


def _compare_branch(old: Schema, new: Schema, old_defs: Schema, new_defs: Schema, path: str) -> list[str]:
    problems: list[str] = []
    old_values = set(map(repr, old.get("enum", [old["const"]] if "const" in old else [])))
    new_values = set(map(repr, new.get("enum", [new["const"]] if "const" in new else [])))
    if new_values and (not old_values or not old_values <= new_values):
        problems.append(f"{path}: allowed values narrowed to {sorted(new_values)}")
    for key in _LOWER:
        if key in new and (key not in old or new[key] > old[key]):
            problems.append(f"{path}: {key} raised to {new[key]}")
    for key in _UPPER:
        if key in new and (key not in old or new[key] < old[key]):
            problems.append(f"{path}: {key} lowered to {new[key]}")
    for key in ("pattern", "format"):
        if key in new and new.get(key) != old.get(key):
            problems.append(f"{path}: {key} changed to {new[key]!r}")
    if old.get("type") == "object":
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        for name in old_props:
            if name not in new_props:
                problems.append(f"{path}.{name}: removed")
            else:
                problems += _compare(old_props[name], new_props[name], old_defs, new_defs, f"{path}.{name}")
        for name in set(new.get("required", [])) - set(old.get("required", [])):
            problems.append(f"{path}.{name}: required now, but old events may not have it")
    if old.get("type") == "array" and "items" in old and "items" in new:
        problems += _compare(old["items"], new["items"], old_defs, new_defs, f"{path}[]")
    return problems
