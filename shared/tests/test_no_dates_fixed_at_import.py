"""No test module fixes today's date when it is imported. Services take the city's today (Europe/Rome,
`lgnet_shared.clock`) when they act, so a `TODAY = clock.today()` at module level, evaluated at collection, disagrees
with them once a run crosses Rome's midnight (23:00 UTC in winter). A CI run did: 17 tests failed, all on dates.

A module-level value that stays right across a midnight (a date 40 days back) says so with `# fixed at import: why`
on its line."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import TypeGuard

ROOT = Path(__file__).resolve().parents[2]
CLOCKS = {"today", "now", "utcnow"}  # clock.today(), date.today(), datetime.now(...), datetime.utcnow()


def _test_modules() -> list[Path]:
    """The project's test modules. Hidden folders (.venv, .local: the local broker's data, whose partition folders
    come and go while tests run) and node_modules are never entered: a glob over them failed when a folder it had
    listed was deleted before it got there."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__")]
        if "tests" in Path(folder).relative_to(ROOT).parts:
            found += [Path(folder) / f for f in files if f.endswith(".py")]
    return sorted(found)


def _reads_the_clock(node: ast.AST) -> bool:
    """Whether evaluating `node` calls a clock; a lambda's body is not evaluated at import, only when called."""
    if isinstance(node, ast.Lambda):
        return False
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCKS:
        return True
    return any(_reads_the_clock(child) for child in ast.iter_child_nodes(node))


def test_a_lambda_reads_the_clock_when_called_not_at_import() -> None:
    assert _reads_the_clock(ast.parse("X = {'a': clock.today()}").body[0])
    assert _reads_the_clock(ast.parse("X = f(lambda: 1, clock.today())").body[0])
    assert not _reads_the_clock(ast.parse("X = {'a': lambda i: i.close(clock.today())}").body[0])


def test_no_test_module_fixes_todays_date_at_import() -> None:
    modules = _test_modules()
    assert len(modules) > 100, "the scan found too few test modules: is ROOT right?"
    offenders = []
    for path in modules:
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.parse(source).body:
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                continue
            if _reads_the_clock(node.value) and "# fixed at import:" not in lines[node.lineno - 1]:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not offenders, "call the clock where the date is used:\n" + "\n".join(offenders)


def _machines_date(node: ast.AST) -> TypeGuard[ast.Call]:
    """`date.today()`, `datetime.today()`, `datetime.utcnow()` or `datetime.now()` without a zone: the machine's
    date, UTC on CI, where the services take the city's (`clock.today()`)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    on, what = node.func.value, node.func.attr
    if not (isinstance(on, ast.Name) and on.id in ("date", "datetime")):
        return False
    return what in ("today", "utcnow") or (what == "now" and not node.args and not node.keywords)


def test_no_test_takes_the_machines_date_for_the_citys() -> None:
    """From 23:00 to 24:00 UTC in winter Rome is a day ahead: a test dating a household's change `date.today()`
    (UTC) against intake's today (Rome's) had its change refused as before the household was formed, and failed in
    a CI run at that hour. Tests take the city's date from `lgnet_shared.clock`, as the services do."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in _test_modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if _machines_date(node)
    ]
    assert found == [], "use lgnet_shared.clock.today() / clock.now():\n" + "\n".join(found)
