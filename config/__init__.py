"""Settings: the schema (``config.schema``), the loader (``config.loader``) and the shipped TOML files."""
