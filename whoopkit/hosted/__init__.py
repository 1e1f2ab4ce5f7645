"""Hosted mode: what every web and worker process of a many-user deployment shares (see each module)."""
