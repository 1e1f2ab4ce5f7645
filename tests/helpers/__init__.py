"""Test helpers: an in-memory OAuth token endpoint and subprocess scripts."""
