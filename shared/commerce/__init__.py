"""What every kind of order shares: checkout (areas register their order kind), Stripe webhooks,
refunds, expiring holds, and the money emails (areas register how their orders read)."""
