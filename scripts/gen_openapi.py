"""Write functions/openapi/openapi.json: the OpenAPI 3.1 contract of every function.

    .venv/bin/python scripts/gen_openapi.py          # rewrite the document
    .venv/bin/python scripts/gen_openapi.py --check  # exit 1 if it is stale

Each function declares its operations with `@http.function(operations=[...])`
(shared/platform/contract.py); this imports every functions/<name>/main.py as
functions-framework does (the areas first, for what they register: order kinds,
reports) and builds one document from them. The `openapi` function serves the
file; tests/foundation/test_openapi.py fails when it differs from a fresh run.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import shared.areas  # noqa: E402,F401  every area's registrations (checkout kinds, reports) before the functions
from shared.platform import contract  # noqa: E402

FUNCTIONS = ROOT / "functions"
OUT = FUNCTIONS / "openapi" / "openapi.json"
DESCRIPTION = (
    "Bookwell's HTTP functions, each served at /functions/v1/<name>. Every error answers "
    '{"error": {"code", "message", "details"}} (ERRORS.md lists every code). Generated from the operations '
    "each function declares (scripts/gen_openapi.py); do not edit by hand."
)


def operations(directory: Path = FUNCTIONS) -> dict[str, tuple[contract.Operation, ...]]:
    """Every function's declared operations, by name (a function that declares none maps to ())."""
    found = {}
    for source in sorted(directory.glob("*/main.py")):
        name = source.parent.name
        spec = importlib.util.spec_from_file_location(f"bookwell_contract_{name.replace('-', '_')}", source)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # as functions-framework does: pydantic resolves annotations through it
        spec.loader.exec_module(module)
        found[name] = tuple(getattr(module.main, "bookwell_operations", ()))
    return found


def build() -> str:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return contract.dumps(contract.document(operations(), version=version, description=DESCRIPTION))


def main(argv: list[str]) -> int:
    text = build()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run .venv/bin/python scripts/gen_openapi.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
