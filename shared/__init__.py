"""Bookwell's shared package: the layers every function is built from.

Each layer imports only the layers below it; business areas never import each
other (tests/foundation/test_layers.py fails when one does). From the bottom:

    platform      config, db, errors, log, auth, http host, storage, migrations, tenancy, users, formatting
    providers     Stripe, Resend, Twilio, QR codes, the LLM runtime (ai)
    comms         the outbox worker, message templates (areas register their kinds), delivery
                  tracking, suppression, consent, campaigns, emergency alerts
    commerce      what every kind of order shares: checkout, webhooks, refunds, holds, money emails
    ticketing     business areas: each registers its order placer, order describer and
    appointments    message kinds with the layers below
    chauffeur
    privacy       cross-area services (GDPR export and erasure)
    areas         imports every area, so their registrations are in place (functions import it)
    devstack      the local stack: CLI, dev server, embedded Postgres, seed, cron loop, stand-ins;
                  the product never imports it at run time
"""
