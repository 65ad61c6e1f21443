"""Every benchmark and experiment (`tandem bench ...`; experiments/ runs with `python -m`).
report.py is the one percentile and the one way to write docs/benchmarks/."""
