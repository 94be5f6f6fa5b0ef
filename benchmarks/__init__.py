"""Benchmarks: scripts comparing alternatives side by side, writing JSON and markdown to `results/`.

Run one as `python -m benchmarks.NAME` or `python benchmarks/NAME.py`; shared helpers are in `common`.
"""
