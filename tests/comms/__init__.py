"""Tests for the communications layer: the outbox, delivery events, suppression (shared/comms,
routines/comms, policies/comms.sql)."""
