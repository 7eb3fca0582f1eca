"""Tests that need a real Docker engine (marker ``docker``; they skip, saying so, without one)."""
