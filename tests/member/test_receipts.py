"""Receipt images over real HTTP, through the storage interface (local files in tests): a member attaches,
replaces, reads and removes the receipt of their own expense; anyone else gets 404; only real images
are stored, checked by their bytes."""

from __future__ import annotations

import httpx

from tests.support import member as M

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def url(stack, expense_id) -> str:
    return f"{stack.functions_url}/member-receipts/expenses/{expense_id}"


def test_a_member_attaches_replaces_reads_and_removes_their_receipt(stack, db):
    user, cats = M.member(db)
    expense = M.spend(db, user, cats["Maintenance"], 18900, M.today(), payee="Tyre Pros")
    put = httpx.put(url(stack, expense), content=PNG, headers=user.headers | {"content-type": "image/png"}, timeout=30)
    assert put.status_code == 200, put.text
    assert (put.json()["content_type"], put.json()["bytes"]) == ("image/png", len(PNG))
    first = db.value("select receipt_path from public.expenses where id = %s", (expense,))
    assert first.startswith(f"{user.id}/{expense}/") and first.endswith(".png")
    got = httpx.get(url(stack, expense), headers=user.headers, timeout=30)
    assert (got.status_code, got.content, got.headers["content-type"]) == (200, PNG, "image/png")

    again = httpx.put(url(stack, expense), content=JPEG, headers=user.headers, timeout=30)
    assert again.json()["content_type"] == "image/jpeg"
    assert httpx.get(url(stack, expense), headers=user.headers, timeout=30).content == JPEG
    from shared.platform.config import settings
    from shared.platform.storage import ObjectNotFound, from_settings
    store = from_settings(settings())
    try:
        store.get(first)
        raise AssertionError("the replaced receipt should be deleted")
    except ObjectNotFound:
        pass

    gone = httpx.delete(url(stack, expense), headers=user.headers, timeout=30)
    assert gone.json() == {"expense_id": str(expense), "removed": True}
    missing = httpx.get(url(stack, expense), headers=user.headers, timeout=30)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "receipt_not_found")


def test_nobody_else_touches_a_receipt_and_only_images_are_stored(stack, db):
    user, cats = M.member(db)
    other, _ = M.member(db)
    expense = M.spend(db, user, cats["Fuel"], 6000, M.today())
    httpx.put(url(stack, expense), content=PNG, headers=user.headers, timeout=30)
    for method in ("GET", "PUT", "DELETE"):
        r = httpx.request(method, url(stack, expense), content=PNG if method == "PUT" else None, headers=other.headers,
                          timeout=30)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "expense_not_found"), method
    assert httpx.get(url(stack, expense), timeout=30).status_code == 401
    text = httpx.put(url(stack, expense), content=b"<script>alert(1)</script>", headers=user.headers, timeout=30)
    assert (text.status_code, text.json()["error"]["code"]) == (415, "unsupported_media_type")
    lying = httpx.put(url(stack, expense), content=PNG, headers=user.headers | {"content-type": "image/jpeg"}, timeout=30)
    assert (lying.status_code, lying.json()["error"]["code"]) == (422, "content_type_mismatch")
    assert db.value("select receipt_path from public.expenses where id = %s", (expense,)).endswith(".png")
