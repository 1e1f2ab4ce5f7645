"""Hosted-mode tests: real PostgreSQL, Redis, worker and web processes."""
