"""The store tests use the suite-wide PostgreSQL and Redis fixtures of ``tests/conftest.py``."""
