"""Tests for what every order shares: the Stripe webhook, late payments, refunds
(shared/commerce, routines/commerce)."""
