"""The bottom layer every other layer shares: errors, the gate's states, the order vocabulary.

It imports nothing of kalshi-guard's other packages (the import-linter contract in ``pyproject.toml``
checks that).
"""
