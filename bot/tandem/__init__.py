"""The `tandem` command: cli.py builds it from one module per command group. Nothing
imports this package (the tests aside)."""
