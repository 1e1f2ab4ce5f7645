"""A faithful in-process fake of WHOOP's OAuth server and API v2 (Starlette ASGI app).

Used by the tests, the benchmarks and the demo mode of the web app and the MCP server. Importing
it pulls in Starlette and anyio only (never FastAPI, Jinja2 or Ollama).
"""

from whoopkit.fake_whoop.app import ALL_SCOPES, FakeWhoop, Faults, Stats, create_fake_whoop
from whoopkit.fake_whoop.data import FakeDataset, PlantedEffects, generate_dataset
from whoopkit.fake_whoop.export import export_zip, write_export
from whoopkit.fake_whoop.mutations import UnknownRecordError

__all__ = [
    "ALL_SCOPES",
    "FakeDataset",
    "FakeWhoop",
    "Faults",
    "PlantedEffects",
    "Stats",
    "UnknownRecordError",
    "create_fake_whoop",
    "export_zip",
    "generate_dataset",
    "write_export",
]
