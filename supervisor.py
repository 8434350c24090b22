"""The root of the tree (being written)."""
