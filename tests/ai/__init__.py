"""Tests for the AI event wizard: its tools (shared/wizard.py) and runtime."""
