"""Unit tests of the use cases' pure rules."""
