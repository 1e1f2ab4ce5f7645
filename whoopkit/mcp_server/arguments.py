"""Strict tool-argument checking with messages that name the argument and its allowed values.

The SDK validates arguments leniently (``"5"`` and ``7.0`` pass as integers, unknown keys are dropped)
and reports failures as raw pydantic dumps. A model that sent a wrong argument learns more from
"limit must be an integer from 1 to 25; got -3", so every call is checked here first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.context_injection import find_context_parameter
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, func_metadata
from pydantic import ConfigDict, ValidationError


class ArgumentChecker:
    """One tool's arguments, checked strictly: exact JSON types, bounds, enums, dates, no unknown keys."""

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name = name
        # The SDK injects the request context itself; it is not an argument the client sends.
        context = find_context_parameter(fn)
        skip = [context] if context is not None else []
        lenient = func_metadata(fn, skip_names=skip, structured_output=False).arg_model
        # A subclass inherits the fields and their bounds; only the config gets stricter.
        self._model: type[ArgModelBase] = type(
            f"{lenient.__name__}Strict",
            (lenient,),
            {"model_config": ConfigDict(strict=True, extra="forbid"), "__module__": __name__},
        )
        self._properties: dict[str, Any] = lenient.model_json_schema().get("properties", {})

    def check(self, arguments: dict[str, Any]) -> None:
        """Accept the arguments or say, per bad argument, what it must be.

        Raises:
            ToolError: an argument is unknown, of the wrong type or out of range.
        """
        try:
            # JSON mode: dates arrive as "YYYY-MM-DD" strings, which strict python mode would refuse.
            self._model.model_validate_json(json.dumps(arguments))
        except ValidationError as exc:
            problems = [self._problem(error, arguments) for error in exc.errors()]
            raise ToolError(
                f"Invalid arguments for {self.name}: " + " ".join(dict.fromkeys(problems))
            ) from exc
        except (TypeError, ValueError) as exc:  # not JSON-serialisable: cannot come over the wire
            raise ToolError(f"Invalid arguments for {self.name}: {exc}.") from exc

    def _problem(self, error: Any, arguments: dict[str, Any]) -> str:
        field = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            known = ", ".join(self._properties) or "no arguments"
            return f"`{field}` is not an argument of this tool (it takes: {known})."
        got = json.dumps(arguments.get(field), ensure_ascii=False)
        if len(got) > 40:
            got = got[:39] + "…"
        impossible = " (there is no such day)" if "outside expected range" in error["msg"] else ""
        return f"`{field}` must be {self.allowed(field)}; got {got}{impossible}."

    def allowed(self, field: str) -> str:
        """What ``field`` accepts, in words: type, range or choices, and the default."""
        schema = self._properties.get(field, {})
        options = schema.get("anyOf", [schema])
        nullable = any(o.get("type") == "null" for o in options)
        main = next((o for o in options if o.get("type") != "null"), schema)
        kind = main.get("type")
        if "enum" in main:
            words = "one of " + ", ".join(json.dumps(v) for v in main["enum"])
        elif kind == "integer":
            lo, hi = main.get("minimum"), main.get("maximum")
            words = (
                f"a whole number from {lo} to {hi}" if lo is not None and hi is not None else "a whole number"
            )
        elif kind == "boolean":
            words = "true or false"
        elif main.get("format") == "date":
            words = "a calendar day written YYYY-MM-DD (e.g. 2026-03-01)"
        else:
            words = f"a {kind or 'value'}"
        if nullable:
            words += " or omitted"
        if schema.get("default") is not None:
            words += f" (default {json.dumps(schema['default'])})"
        return words
