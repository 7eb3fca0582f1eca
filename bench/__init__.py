"""Benchmarks: each prints one JSON line per figure and takes the API URL as an argument."""
