"""The `bcapi` command: serve, migrate, manage keys, assess a file, and the rules CI (`bcapi rules`)."""
