"""One-off research rounds: what was tried against the reference, and why it is (or is not) in the engine. Run from
the repository root as `python -m bench.research.X`; the findings are in bench/README.md.
"""
