"""One-off generators of the sample brand's committed data (run by hand, output committed)."""
