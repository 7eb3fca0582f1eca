"""Reliability runs: conductor crashes, failure surfacing and request races on real processes."""
