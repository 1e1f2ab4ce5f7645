"""The web dashboard: ``create_app(settings)`` builds the FastAPI app that ``whoop_simple.py`` serves."""

from whoopkit.web.app import create_app

__all__ = ["create_app"]
