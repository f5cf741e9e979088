"""Tests for the organiser CRM: migrations/*_crm_contacts.sql and policies/crm.sql."""
