"""The welcome email (routines/comms/welcome.sql, shared/comms/welcome.py): queued once a sign-up's
address is confirmed, never before and never twice; from the org the sign-up named, in its wording and
the language asked for, or else from the product; a name that looks like markup or a template is text."""

from __future__ import annotations

import uuid

from psycopg.types.json import Jsonb

from shared.comms import notifications
from shared.platform.config import settings
from shared.providers.mail import Mailer
from tests.support import factories
from tests.support.pg import call


def welcomes(db, user_id: str) -> list[dict]:
    return db.sql("select * from public.notification_outbox where template = 'welcome' and payload ->> 'user_id' = %s",
                  (user_id,))


def confirm(db, user_id: str) -> None:
    db.sql("update auth.users set email_confirmed_at = now() where id = %s", (user_id,))


def send(db) -> None:
    notifications.send_due(Mailer(settings()), templates=["welcome"], limit=100)


def test_only_a_confirmed_address_is_welcomed_and_only_once(stack, db):
    user = db.user(full_name="{{ org.secret }} <script>x</script>")
    assert welcomes(db, user.id) == [], "an unconfirmed sign-up could be anyone's address"
    confirm(db, user.id)
    db.sql("update auth.users set email_confirmed_at = null where id = %s", (user.id,))
    confirm(db, user.id)
    [queued] = welcomes(db, user.id)
    assert (queued["org_id"], queued["recipient"], queued["language"]) == (None, user.email, "en")
    send(db)
    [sent] = stack.resend.emails_to(user.email)
    assert sent["subject"] == "Welcome to Bookwell"
    assert "{{ org.secret }} &lt;script&gt;x&lt;/script&gt;" in sent["html"], "the name is inert text"
    assert "<script>x" not in sent["html"]


def test_a_user_created_confirmed_is_welcomed(db):
    user = db.user(confirmed=True)
    assert len(welcomes(db, user.id)) == 1


def test_a_sign_up_through_an_org_gets_its_welcome_in_its_language(stack, db):
    org = factories.org(db, name="Riverside Arts")
    call(db, org["owner"].caller, "select private.save_message_template(%s, 'welcome', 'email', 'de', %s, %s, %s,"
         " null, %s)", org["id"], "Willkommen bei {{ org_name }}", "<p>Hallo {{ name }}</p>", "Hallo {{ name }}",
         org["owner"].id)
    user = db.user(full_name="Greta")
    db.sql("update auth.users set raw_user_meta_data = %s where id = %s",
           (Jsonb({"full_name": "Greta", "org": org["slug"], "language": "de"}), user.id))
    confirm(db, user.id)
    [queued] = welcomes(db, user.id)
    assert (str(queued["org_id"]), queued["language"]) == (str(org["id"]), "de")
    send(db)
    [sent] = stack.resend.emails_to(user.email)
    assert (sent["subject"], sent["text"]) == ("Willkommen bei Riverside Arts", "Hallo Greta")


def test_an_unknown_org_or_a_bad_language_falls_back_to_the_products_welcome(db):
    user = db.user()
    db.sql("update auth.users set raw_user_meta_data = %s where id = %s",
           (Jsonb({"org": f"no-such-{uuid.uuid4().hex[:6]}", "language": "'; drop table x; --"}), user.id))
    confirm(db, user.id)
    [queued] = welcomes(db, user.id)
    assert (queued["org_id"], queued["language"]) == (None, "en")


def test_a_deleted_account_is_not_welcomed(db):
    user = db.user()
    confirm(db, user.id)
    db.sql("delete from auth.users where id = %s", (user.id,))
    send(db)
    [row] = welcomes(db, user.id)
    assert (row["status"], row["last_error"]) == ("skipped", "user_deleted")
