"""Tests for tenancy and identity: migrations/*_tenancy.sql and policies/tenancy.sql."""
