"""The layers of shared/ (see shared/__init__.py) import only downward, and business areas never
import each other. The checker is proven able to fail on a made-up tree first."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.platform.config import PROJECT_ROOT

# Lower number = lower layer. Areas share a rank: same rank, different package = sideways.
RANKS = {"platform": 0, "providers": 1, "comms": 2, "commerce": 3, "ticketing": 4, "appointments": 4,
         "chauffeur": 4, "parking": 4, "member": 4, "privacy": 5, "areas": 6, "devstack": 7}
AREAS = {"ticketing", "appointments", "chauffeur", "parking", "member"}


def package_of(module: str) -> str | None:
    """'shared.commerce.checkout' -> 'commerce'; None for what is not under shared."""
    parts = module.split(".")
    return parts[1] if parts[0] == "shared" and len(parts) > 1 else None


def imports_of(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return {m for m in found if m.startswith("shared.")}


def violations(modules: dict[str, str]) -> list[str]:
    """modules: {dotted module name: source}. Each upward or sideways import, as 'a -> b (why)'."""
    out = []
    for name, source in sorted(modules.items()):
        here = package_of(name)
        if here not in RANKS:
            out.append(f"{name}: not in a known layer")
            continue
        for target in sorted(imports_of(source)):
            there = package_of(target)
            if there is None or there == here or there not in RANKS:
                continue
            if RANKS[there] > RANKS[here]:
                out.append(f"{name} -> {target} (upward: {here} is below {there})")
            elif here in AREAS and there in AREAS:
                out.append(f"{name} -> {target} (sideways: areas never import each other)")
    return out


def shared_modules() -> dict[str, str]:
    modules = {}
    for path in (PROJECT_ROOT / "shared").rglob("*.py"):
        relative = path.relative_to(PROJECT_ROOT).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        if name != "shared":
            modules[name] = path.read_text()
    return modules


def test_the_checker_finds_an_upward_and_a_sideways_import():
    made_up = {
        "shared.platform.db": "from shared.commerce import checkout\n",
        "shared.ticketing.emails": "from shared.appointments.emails import render\nfrom shared.platform import db\n",
        "shared.appointments.emails": "import shared.comms.notifications\n",
        "shared.devstack.cli": "from shared.ticketing import emails\n",
    }
    assert violations(made_up) == [
        "shared.platform.db -> shared.commerce (upward: platform is below commerce)",
        "shared.platform.db -> shared.commerce.checkout (upward: platform is below commerce)",
        "shared.ticketing.emails -> shared.appointments.emails (sideways: areas never import each other)",
        "shared.ticketing.emails -> shared.appointments.emails.render (sideways: areas never import each other)",
    ]


def test_every_import_in_shared_runs_downward_and_areas_stay_apart():
    modules = shared_modules()
    assert len(modules) > 40
    assert violations(modules) == []


def test_the_product_never_imports_the_dev_stack():
    # Functions run on Cloud Run: nothing of the local stack (CLI, stand-ins, embedded Postgres) is theirs.
    offending = {str(path.relative_to(PROJECT_ROOT)): sorted(m for m in imports_of(path.read_text())
                                                            if package_of(m) == "devstack")
                 for path in (PROJECT_ROOT / "functions").glob("*/main.py")}
    assert {path: found for path, found in offending.items() if found} == {}


def test_no_test_module_imports_another():
    # Builders, fixtures and harnesses shared by several modules live in tests/support/.
    offending = {}
    for path in (PROJECT_ROOT / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text())
        found = sorted({node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
                        and node.module.startswith("tests.") and node.module.split(".")[-1].startswith("test_")})
        if found:
            offending[str(path.relative_to(PROJECT_ROOT))] = found
    assert offending == {}


# ---------------------------------------------------------------------------
# One service convention (ARCHITECTURE.md, "Services"): a step takes the caller's
# cursor and never opens a transaction; only a use case, which owns its
# transactions (around provider calls, or retried), takes the Caller.
# ---------------------------------------------------------------------------
OPENERS = {"transaction", "run", "as_service", "as_anon"}


def steps_opening_transactions(modules: dict[str, str]) -> list[str]:
    out = []
    for name, source in sorted(modules.items()):
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef) or not node.args.args or node.args.args[0].arg != "cur":
                continue
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and isinstance(call.func.value, ast.Name) and call.func.value.id == "db"
                        and call.func.attr in OPENERS):
                    out.append(f"{name}.{node.name} takes a cursor and calls db.{call.func.attr}")
    return out


def test_the_convention_check_finds_a_step_that_opens_its_own_transaction():
    made_up = {"shared.ticketing.bad": "def list_things(cur):\n    with db.transaction(caller) as c:\n        pass\n",
               "shared.ticketing.good": "def list_things(cur):\n    cur.execute('select 1')\n"}
    assert steps_opening_transactions(made_up) == [
        "shared.ticketing.bad.list_things takes a cursor and calls db.transaction"]


def test_no_step_opens_a_transaction():
    assert steps_opening_transactions(shared_modules()) == []
