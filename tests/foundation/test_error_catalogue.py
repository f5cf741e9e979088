"""ERRORS.md lists every error code the product can answer, with its status: regenerated from the
migrations and the Python on every run, it must equal the committed file (so a new code is catalogued
in the change that adds it)."""

from __future__ import annotations

import importlib.util
import re

from shared.platform.config import PROJECT_ROOT


def generator():
    spec = importlib.util.spec_from_file_location("gen_error_catalogue",
                                                  PROJECT_ROOT / "scripts" / "gen_error_catalogue.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_catalogue_is_current():
    assert (PROJECT_ROOT / "ERRORS.md").read_text() == generator().catalogue(), (
        "ERRORS.md is stale: run .venv/bin/python scripts/gen_error_catalogue.py")


def test_it_holds_the_codes_of_sql_python_and_database_refusals_with_their_status():
    rows = {m[0]: m[1] for m in re.findall(r"^\| `([a-z_]+)` \| ([\d, ]+) \|", generator().catalogue(), re.M)}
    assert len(rows) > 150
    assert rows["cutoff_passed"] == "409" and rows["slot_taken"] == "409"  # SQL, PostgREST's PT409
    assert rows["invalid_request"] == "422" and rows["payment_provider_unavailable"] == "502"  # Python
    assert rows["invalid_value"] == "422" and rows["busy"] == "503"  # database refusals
    assert rows["invalid_idempotency_key"] == "422" and rows["idempotency_conflict"] == "409"
