"""The helpers handlers share from the function host (shared/platform/http.py): Accept
negotiation, ids in paths, photo storage. No database."""

from __future__ import annotations

import uuid

import flask
import pytest

from shared.platform import errors, http, storage
from shared.platform.config import Settings


def request_accepting(accept: str | None) -> flask.Request:
    app = flask.Flask(__name__)
    with app.test_request_context(headers={"accept": accept} if accept is not None else {}):
        return flask.request._get_current_object()


@pytest.mark.parametrize(("accept", "csv"), [
    (None, False),
    ("", False),
    ("*/*", False),
    ("application/json", False),
    ("text/csv", True),
    ("TEXT/CSV", True),
    ("text/csv, */*", True),
    ("text/csv;q=0.5, application/json", False),
    ("text/csv, application/json;q=0.9", True),
    ("text/csv;q=0", False),
    ("text/csv;q=oops", False),
])
def test_prefers_ranks_the_accept_header_by_q_value(accept, csv):
    assert http.prefers(request_accepting(accept), "text/csv") is csv


def test_a_path_id_is_a_canonical_uuid_lower_cased():
    given = uuid.uuid4()
    assert http.path_uuid(str(given).upper(), "job") == str(given)


@pytest.mark.parametrize("segment", ["not-a-uuid", "", "0" * 32, "{" + str(uuid.UUID(int=1)) + "}",
                                     "-" * 36, str(uuid.UUID(int=1)) + "0"])
def test_anything_else_in_the_path_is_404_invalid_id(segment):
    with pytest.raises(errors.DomainError) as refused:
        http.path_uuid(segment, "job")
    assert (refused.value.status, refused.value.code) == (404, "invalid_id")
    assert refused.value.message == "The job id in the path is not a UUID"


def test_storage_or_503(tmp_path):
    assert isinstance(http.storage_or_503(Settings(STORAGE_LOCAL_DIR=str(tmp_path))), storage.LocalStorage)
    with pytest.raises(errors.DomainError) as refused:
        http.storage_or_503(Settings(STORAGE_BACKEND="supabase"))
    assert (refused.value.status, refused.value.code) == (503, "storage_not_configured")
