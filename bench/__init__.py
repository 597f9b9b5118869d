"""Benchmark harness for temporalflow (DESIGN §6): ``python bench/run.py``."""
