"""Reproducible benchmarks: each writes JSON + markdown under benchmarks/; common holds the shared pieces."""
