"""Tests for the organiser CRM: migrations/*_crm.sql and policies/crm.sql."""
