"""Tests for tenancy and identity: migrations/*_platform_tenancy.sql and policies/tenancy.sql."""
