"""What ``tools/list`` costs an assistant's context, and that the light schemas still describe every result.

Measured through the official client as the compact JSON of the ``tools/list`` result, the way it reaches
a client; the full schemas the SDK derives from the output models are the reference the light ones are
checked against.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from tests.mcp_server.conftest import text_of
from whoopkit.config import Settings
from whoopkit.mcp_server import create_server
from whoopkit.mcp_server.server import WhoopMCPServer

pytestmark = pytest.mark.anyio

MAX_TOOLS_LIST_BYTES = 25_000
RECORDS = {
    "DaySummary",
    "RecoverySummary",
    "SleepSummary",
    "StrainSummary",
    "WorkoutSummary",
    "PeriodComparison",
}


def _spelled_out(schema: dict[str, Any]) -> set[str]:
    """The record models whose fields ``schema`` lists (not just names)."""
    defs = schema.get("$defs", {})
    return {name for name, sub in defs.items() if name in RECORDS and {"properties", "required"} & set(sub)}


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _leaves(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value[:2]):
            yield from _leaves(sub, (*path, index))
    else:
        yield path, value


def _with(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def _wrong_value(value: Any) -> Any:
    """A value of another JSON type than ``value`` (no null: the light schemas allow null for numbers)."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return "12"
    return 12


async def test_tools_list_is_at_most_25_kb_of_compact_json(client: Client) -> None:
    listed = await client.list_tools()
    size = len(listed.model_dump_json(by_alias=True, exclude_none=True))
    assert size <= MAX_TOOLS_LIST_BYTES, f"tools/list is {size} bytes"


async def test_every_tool_keeps_an_output_schema_its_structured_content_matches(client: Client) -> None:
    for tool in (await client.list_tools()).tools:
        assert tool.output_schema is not None, tool.name
        jsonschema.Draft202012Validator.check_schema(tool.output_schema)
        result = await client.call_tool(tool.name, {})
        assert not result.is_error, f"{tool.name}: {text_of(result)}"
        jsonschema.validate(result.structured_content, tool.output_schema)


async def test_each_record_model_is_spelled_out_once_and_the_others_name_an_earlier_tool(
    client: Client,
) -> None:
    tools = (await client.list_tools()).tools
    spelled: dict[str, str] = {}
    for position, tool in enumerate(tools):
        assert tool.output_schema is not None
        for name in _spelled_out(tool.output_schema):
            assert name not in spelled, f"{name} spelled out by {spelled.get(name)} and {tool.name}"
            spelled[name] = tool.name
        for name, sub in tool.output_schema.get("$defs", {}).items():
            if name in RECORDS and name not in _spelled_out(tool.output_schema):
                owner = sub["description"].removeprefix("as in ")
                assert owner in [earlier.name for earlier in tools[:position]], (tool.name, name)
                assert spelled[name] == owner, (tool.name, name)


async def test_with_only_some_tools_offered_each_record_is_spelled_out_by_one_of_them(
    settings: Settings, service: Any
) -> None:
    offered = settings.model_copy(update={"whoop_mcp_tools": "get_health_summary,should_i_train_today"})
    async with Client(create_server(offered, service)) as client:
        tools = (await client.list_tools()).tools
        summary, readiness = tools
        assert summary.output_schema is not None and readiness.output_schema is not None
        assert _spelled_out(summary.output_schema) >= {"RecoverySummary", "SleepSummary", "StrainSummary"}
        assert _spelled_out(readiness.output_schema) == {"DaySummary"}
        for tool in tools:
            result = await client.call_tool(tool.name, {})
            jsonschema.validate(result.structured_content, tool.output_schema)


async def test_fields_whose_name_does_not_say_it_all_are_described(client: Client) -> None:
    described: dict[str, str] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and isinstance(sub.get("description"), str):
                    described[name] = sub["description"]
            for sub in node.values():
                collect(sub)
        elif isinstance(node, list):
            for sub in node:
                collect(sub)

    for tool in (await client.list_tools()).tools:
        collect(tool.output_schema)
    needed = {"debt_hours", "need_hours", "acute_chronic_ratio", "hrv_vs_30d_pct", "stale", "as_of"}
    assert needed <= set(described), needed - set(described)
    assert "owed" in described["debt_hours"] and "nights" in described["debt_hours"]


async def test_the_light_schemas_reject_a_wrong_type_wherever_the_full_schemas_do(
    settings: Settings, service: Any
) -> None:
    # Each tool offered alone spells out all its records, so its light schema is comparable field by field.
    full_server: WhoopMCPServer = create_server(settings, service)
    full = {tool.name: tool.output_schema for tool in await MCPServer.list_tools(full_server)}
    for name, full_schema in full.items():
        alone = settings.model_copy(update={"whoop_mcp_tools": name})
        async with Client(create_server(alone, service)) as client:
            (tool,) = (await client.list_tools()).tools
            light_schema = tool.output_schema
            assert light_schema is not None and full_schema is not None
            assert len(json.dumps(light_schema)) < len(json.dumps(full_schema)), name
            result = (await client.call_tool(name, {})).structured_content
        full_check = jsonschema.Draft202012Validator(full_schema)
        light_check = jsonschema.Draft202012Validator(light_schema)
        for path, value in _leaves(result):
            if value is None:
                continue
            wrong = _with(result, path, _wrong_value(value))
            assert light_check.is_valid(wrong) == full_check.is_valid(wrong), (name, path)
