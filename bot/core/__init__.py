"""The bottom layer: settings, the brand folder (brand.py), policy rules and the order
back end. It imports nothing else of the project."""
