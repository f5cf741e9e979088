"""Photo storage backends (shared/platform/storage.py): local files, and Supabase Storage over HTTP
against the local stand-in (shared/devstack/standins/storage_standin.py). No database."""

from __future__ import annotations

import time

import httpx
import pytest

from shared.platform import storage
from shared.platform.config import Settings
from shared.devstack.standins import StorageStandin

KEY = "service-key-for-tests"
BASE = "http://storage.test/storage/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def standin() -> StorageStandin:
    return StorageStandin(KEY)


@pytest.fixture(params=["local", "supabase"])
def store(request, tmp_path, standin):
    if request.param == "local":
        return storage.LocalStorage(tmp_path / "objects")
    return storage.SupabaseStorage(BASE, "job-photos", KEY, transport=httpx.WSGITransport(app=standin.served_at()))


def fetch(url: str, standin: StorageStandin) -> httpx.Response:
    with httpx.Client(transport=httpx.WSGITransport(app=standin.served_at())) as client:
        return client.get(url)


def test_an_object_is_stored_read_back_and_deleted(store):
    path = "org/appt/photo.png"
    store.put(path, PNG, "image/png")
    assert store.get(path) == PNG
    store.delete(path)
    with pytest.raises(storage.ObjectNotFound):
        store.get(path)
    store.delete(path)  # deleting what is gone is fine


def test_an_existing_object_is_never_overwritten(store):
    store.put("org/appt/one.png", PNG, "image/png")
    with pytest.raises(storage.StorageError):
        store.put("org/appt/one.png", b"\xff\xd8\xff other", "image/jpeg")
    assert store.get("org/appt/one.png") == PNG


@pytest.mark.parametrize("path", ["../escape.png", "org/../../x", "/abs/path.png", "org//x.png", "", "org/.hidden",
                                  "a/b\\c.png", "org/x.png?y=1", "org/%2e%2e/x"])
def test_paths_that_could_leave_the_root_or_bucket_are_refused(store, path, tmp_path):
    with pytest.raises(ValueError):
        store.put(path, PNG, "image/png")
    assert not (tmp_path / "escape.png").exists()


def test_local_storage_keeps_files_under_its_root_and_signs_nothing(tmp_path):
    store = storage.LocalStorage(tmp_path / "root")
    store.put("org/appt/p.png", PNG, "image/png")
    assert (tmp_path / "root" / "org" / "appt" / "p.png").read_bytes() == PNG
    assert store.signed_url("org/appt/p.png", 60) is None
    assert [p.name for p in (tmp_path / "root" / "org" / "appt").iterdir()] == ["p.png"]  # no temp files left


def test_a_signed_url_serves_the_bytes_without_the_key_until_it_expires(standin):
    store = storage.SupabaseStorage(BASE, "job-photos", KEY, transport=httpx.WSGITransport(app=standin.served_at()))
    store.put("org/appt/p.png", PNG, "image/png")
    url = store.signed_url("org/appt/p.png", 60)
    assert url.startswith(f"{BASE}/object/sign/job-photos/org/appt/p.png?token=")
    got = fetch(url, standin)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    # Tampered: another path with the same token, or a changed expiry.
    token = url.split("token=")[1]
    assert fetch(f"{BASE}/object/sign/job-photos/org/appt/other.png?token={token}", standin).status_code == 400
    expires, _, sig = token.partition(".")
    assert fetch(url.replace(token, f"{int(expires) + 999}.{sig}"), standin).status_code == 400
    # Expired.
    short = store.signed_url("org/appt/p.png", 1)
    time.sleep(2.1)
    assert fetch(short, standin).status_code == 400


def test_the_standin_wants_the_service_key_and_a_known_bucket(standin):
    with httpx.Client(transport=httpx.WSGITransport(app=standin.served_at())) as client:
        assert client.post(f"{BASE}/object/job-photos/a.png", content=PNG).status_code == 401
        assert client.post(f"{BASE}/object/job-photos/a.png", content=PNG,
                           headers={"authorization": "Bearer wrong"}).status_code == 401
        got = client.post(f"{BASE}/object/nope/a.png", content=PNG, headers={"authorization": f"Bearer {KEY}"})
        assert got.status_code == 404 and got.json()["message"] == "Bucket not found"
    assert standin.objects == {}
    wrong_key = storage.SupabaseStorage(BASE, "job-photos", "not-the-key", transport=httpx.WSGITransport(app=standin.served_at()))
    with pytest.raises(storage.StorageError):
        wrong_key.put("a/b.png", PNG, "image/png")


def test_the_backend_follows_the_settings(tmp_path):
    local = storage.from_settings(Settings(STORAGE_LOCAL_DIR=str(tmp_path)))
    assert isinstance(local, storage.LocalStorage) and local.root == tmp_path
    remote = storage.from_settings(Settings(STORAGE_BACKEND="supabase", SUPABASE_URL="https://x.supabase.co",
                                            SUPABASE_SERVICE_ROLE_KEY="k"))
    assert isinstance(remote, storage.SupabaseStorage) and remote.base == "https://x.supabase.co/storage/v1"
    # Production defaults to Supabase Storage and refuses to run without its settings.
    with pytest.raises(RuntimeError):
        storage.from_settings(Settings(BOOKWELL_ENV="production"))
    with pytest.raises(ValueError):
        Settings(STORAGE_BACKEND="s3")
