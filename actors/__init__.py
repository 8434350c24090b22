"""The supervised actors of kalshi-guard and their vocabulary (messages, gate, errors, base class).

Importing this package is cheap: submodules are imported by name where used.
"""
