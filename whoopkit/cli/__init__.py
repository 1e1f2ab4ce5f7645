"""The ``whoopkit`` command line (Typer): ``sync``, ``status``, ``doctor``, ``setup`` and ``export``."""

from whoopkit.cli.app import create_app, main
from whoopkit.cli.deps import CliDeps

__all__ = ["CliDeps", "create_app", "main"]
