"""Tests for service appointments (issue 5): postcodes, catalogue, slots, booking."""
