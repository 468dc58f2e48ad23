"""Benchmarks, run from the repository root as modules: `python -m bench.bench`, `python -m bench.X`; the
one-off research rounds as `python -m bench.research.X`. What each script measures and which constant it backs:
bench/README.md.
"""
