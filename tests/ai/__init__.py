"""Tests for the AI event wizard: its tools (shared/ticketing/wizard.py) and runtime."""
