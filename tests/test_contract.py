"""The fake WHOOP against the official OpenAPI spec: every response it can give must validate.

The spec's schemas are converted to JSON Schema (``$ref`` into ``components/schemas``, OpenAPI 3
``nullable`` into type lists) and made STRICTER than the spec in one way: objects may not carry
properties the spec does not list, so the fake cannot invent fields that real clients would never see.
Formats (date-time, uuid, int32, int64) are checked too.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import BaseModel

from whoopkit import models
from whoopkit.config import OAUTH_SCOPES
from whoopkit.fake_whoop import ALL_SCOPES, FakeWhoop, create_fake_whoop, generate_dataset

SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
SPEC_PATH = SPEC_DIR / "whoop-openapi.json"
SPEC_SHA256 = "b40986e62c85067188fa01b23cbb3d5eec67c0f424b8b9d7c9e8b5bacee99892"
NOW = datetime(2025, 10, 1, 19, 30, tzinfo=UTC)

# path template in the spec -> (schema of the 200 body, model that parses it)
COLLECTIONS = {
    "/developer/v2/cycle": ("PaginatedCycleResponse", models.Page[models.Cycle]),
    "/developer/v2/recovery": ("RecoveryCollection", models.Page[models.Recovery]),
    "/developer/v2/activity/sleep": ("PaginatedSleepResponse", models.Page[models.Sleep]),
    "/developer/v2/activity/workout": ("WorkoutCollection", models.Page[models.Workout]),
}
EXAMPLES: dict[str, tuple[str, type[BaseModel]]] = {
    "cycle_collection.json": ("PaginatedCycleResponse", models.Page[models.Cycle]),
    "recovery_collection.json": ("RecoveryCollection", models.Page[models.Recovery]),
    "sleep_collection.json": ("PaginatedSleepResponse", models.Page[models.Sleep]),
    "workout_collection.json": ("WorkoutCollection", models.Page[models.Workout]),
    "user_body_measurement.json": ("UserBodyMeasurement", models.UserBodyMeasurement),
    "user_profile_basic.json": ("UserBasicProfile", models.UserBasicProfile),
}

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_FORMATS = jsonschema.FormatChecker(["uuid"])


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.fullmatch(value):
        return False
    datetime.fromisoformat(value)
    return True


@_FORMATS.checks("int32")
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _is_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@_FORMATS.checks("float")
def _is_float(value: object) -> bool:
    return not isinstance(value, float) or abs(value) < 3.4e38


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def _to_json_schema(node: Any, strict: bool) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: inline $refs, turn ``nullable`` into a type list."""
    if isinstance(node, list):
        return [_to_json_schema(item, strict) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        return _to_json_schema(spec()["components"]["schemas"][name], strict)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("example", "externalDocs", "description", "nullable"):
            continue
        if key == "properties":
            out[key] = {name: _to_json_schema(sub, strict) for name, sub in value.items()}
        else:
            out[key] = _to_json_schema(value, strict)
    if node.get("nullable"):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if strict and out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


@cache
def validator(schema_name: str, strict: bool = True) -> jsonschema.Draft202012Validator:
    schema = _to_json_schema(copy.deepcopy(spec()["components"]["schemas"][schema_name]), strict)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)


def assert_valid(schema_name: str, body: Any) -> None:
    errors = sorted(validator(schema_name).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{schema_name}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )


def _operation_schema(path: str, method: str = "get") -> str:
    template = path.removeprefix("/developer")
    response = spec()["paths"][template][method]["responses"]["200"]
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------- spec itself


def test_the_spec_file_is_the_pinned_official_copy() -> None:
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256


def test_the_converter_handles_nullable_and_refs() -> None:
    cycle = _to_json_schema(spec()["components"]["schemas"]["Cycle"], strict=True)
    assert cycle["properties"]["step_count"]["type"] == ["integer", "null"]
    assert cycle["properties"]["score"]["required"] == [
        "average_heart_rate",
        "kilojoule",
        "max_heart_rate",
        "strain",
    ]
    assert cycle["additionalProperties"] is False
    assert validator("Cycle").is_valid({**_example_cycle(), "step_count": None})
    assert not validator("Cycle").is_valid({**_example_cycle(), "invented": 1})
    assert not validator("Cycle").is_valid({**_example_cycle(), "start": "2022-04-24"})
    assert not validator("Cycle").is_valid({**_example_cycle(), "score_state": "DONE"})


def _example_cycle() -> dict[str, Any]:
    data = json.loads((SPEC_DIR / "examples" / "cycle_collection.json").read_text(encoding="utf-8"))
    record: dict[str, Any] = data["records"][0]
    return record


def test_the_fake_serves_every_consumer_endpoint_of_the_spec() -> None:
    fake = create_fake_whoop()
    served = {
        (route.path, method.lower())
        for route in fake._router.routes
        for method in getattr(route, "methods", set()) or set()
        if method != "HEAD"
    }
    for path, operations in spec()["paths"].items():
        for method, operation in operations.items():
            security = operation.get("security") or [{"OAuth": []}]
            if "/partner/" in path or not any("OAuth" in s for s in security):
                continue  # partner (lab) endpoints are not for consumer apps
            template = re.sub(r"\{(\w+)\}", lambda m: "{" + _snake(m.group(1)) + "}", path)
            assert ("/developer" + template, method) in served, f"{method.upper()} {path} not served"


def _snake(name: str) -> str:
    return {
        "cycleId": "cycle_id",
        "sleepId": "sleep_id",
        "workoutId": "workout_id",
        "activityV1Id": "activity_id",
    }[name]


def test_the_fake_offers_exactly_the_scopes_whoopkit_asks_for() -> None:
    assert ALL_SCOPES == OAUTH_SCOPES
    declared = spec()["components"]["securitySchemes"]["OAuth"]["flows"]["authorizationCode"]["scopes"]
    assert set(ALL_SCOPES) == {*declared, "offline"}


# --------------------------------------------------------------------------------------------- examples


@pytest.mark.parametrize("filename", sorted(EXAMPLES))
def test_every_spec_example_parses_into_a_model_and_round_trips(filename: str) -> None:
    schema_name, model = EXAMPLES[filename]
    raw = json.loads((SPEC_DIR / "examples" / filename).read_text(encoding="utf-8"))
    assert_valid(schema_name, raw)
    parsed = model.model_validate(raw)
    dumped = parsed.model_dump(mode="json", exclude_none=True)
    assert model.model_validate(dumped) == parsed
    assert model.model_validate_json(parsed.model_dump_json()) == parsed
    _assert_same_values(raw, dumped)


def test_every_example_file_is_covered() -> None:
    assert {p.name for p in (SPEC_DIR / "examples").glob("*.json")} == set(EXAMPLES)


def _assert_same_values(raw: Any, dumped: Any) -> None:
    """Each value in the sample survives parse + dump (timestamps compared as instants)."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            assert key in dumped, f"{key} lost by the model"
            _assert_same_values(value, dumped[key])
    elif isinstance(raw, list):
        assert len(raw) == len(dumped)
        for a, b in zip(raw, dumped, strict=True):
            _assert_same_values(a, b)
    elif isinstance(raw, str) and _DATE_TIME.fullmatch(raw):
        assert datetime.fromisoformat(raw) == datetime.fromisoformat(dumped)
    else:
        assert raw == dumped


# --------------------------------------------------------------------------------------------- the fake


@pytest.fixture(scope="module")
def fake() -> FakeWhoop:
    return create_fake_whoop(now=NOW, requests_per_minute=1_000_000, requests_per_day=1_000_000)


@pytest.fixture
async def client(fake: FakeWhoop) -> AsyncIterator[httpx.AsyncClient]:
    token = fake.issue_token()["access_token"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake),
        base_url="http://fake",
        headers={"Authorization": f"Bearer {token}"},
    ) as c:
        yield c


async def _walk(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    schema_name, model = COLLECTIONS[path]
    assert _operation_schema(path) == schema_name
    records: list[dict[str, Any]] = []
    token = None
    while True:
        query = {**params, **({"nextToken": token} if token else {})}
        answer = await client.get(path, params=query)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert_valid(schema_name, body)
        model.model_validate(body)
        records += body["records"]
        token = body.get("next_token")
        if token is None:
            return records


@pytest.mark.anyio
@pytest.mark.parametrize("path", sorted(COLLECTIONS))
@pytest.mark.parametrize("limit", [1, 7, 25])
async def test_every_collection_page_validates(
    client: httpx.AsyncClient, fake: FakeWhoop, path: str, limit: int
) -> None:
    records = await _walk(client, path, limit=limit)
    assert len(records) > 100 if path != "/developer/v2/activity/workout" else len(records) > 50


@pytest.mark.anyio
async def test_windowed_collection_pages_validate(client: httpx.AsyncClient) -> None:
    for path in COLLECTIONS:
        records = await _walk(client, path, start="2025-06-01T00:00:00.000Z", end="2025-06-20T12:00:00-05:00")
        assert records


@pytest.mark.anyio
async def test_every_record_by_id_validates(client: httpx.AsyncClient, fake: FakeWhoop) -> None:
    data = fake.data
    for cycle in data.cycles:
        cycle_id = cycle["id"]
        checks = [
            (f"/developer/v2/cycle/{cycle_id}", "/v2/cycle/{cycleId}", models.Cycle),
            (f"/developer/v2/cycle/{cycle_id}/recovery", "/v2/cycle/{cycleId}/recovery", models.Recovery),
            (f"/developer/v2/cycle/{cycle_id}/sleep", "/v2/cycle/{cycleId}/sleep", models.Sleep),
        ]
        for url, template, model in checks:
            answer = await client.get(url)
            assert answer.status_code == 200, url
            assert_valid(_operation_schema("/developer" + template), answer.json())
            model.model_validate(answer.json())
    for sleep in data.sleeps:
        answer = await client.get(f"/developer/v2/activity/sleep/{sleep['id']}")
        assert_valid(_operation_schema("/developer/v2/activity/sleep/{sleepId}"), answer.json())
        models.Sleep.model_validate(answer.json())
    for workout in data.workouts:
        answer = await client.get(f"/developer/v2/activity/workout/{workout['id']}")
        assert_valid(_operation_schema("/developer/v2/activity/workout/{workoutId}"), answer.json())
        models.Workout.model_validate(answer.json())
    for v1_id in data.v1_activity_ids():
        answer = await client.get(f"/developer/v1/activity-mapping/{v1_id}")
        assert_valid(_operation_schema("/developer/v1/activity-mapping/{activityV1Id}"), answer.json())


@pytest.mark.anyio
async def test_the_user_endpoints_validate(client: httpx.AsyncClient) -> None:
    profile = await client.get("/developer/v2/user/profile/basic")
    assert_valid(_operation_schema("/developer/v2/user/profile/basic"), profile.json())
    models.UserBasicProfile.model_validate(profile.json())
    body = await client.get("/developer/v2/user/measurement/body")
    assert_valid(_operation_schema("/developer/v2/user/measurement/body"), body.json())
    models.UserBodyMeasurement.model_validate(body.json())


@pytest.mark.anyio
async def test_error_responses_are_json_objects_with_an_error_code(
    client: httpx.AsyncClient, fake: FakeWhoop
) -> None:
    # The spec defines no error schemas; the fake promises {"error": str, "message"|"error_description": str}.
    error_schema = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    }
    fake.faults.fail_next(503)
    fake.faults.fail_next(429, retry_after=1)
    cases = [
        await client.get("/developer/v2/cycle"),
        await client.get("/developer/v2/cycle"),
        await client.get("/developer/v2/cycle", params={"limit": 26}),
        await client.get("/developer/v2/cycle/1"),
        await client.get("/developer/v2/activity/sleep/zzz"),
        await client.get("/developer/v2/cycle", headers={"Authorization": "Bearer nope"}),
        await client.post("/oauth/oauth2/token", data={"grant_type": "refresh_token"}),
    ]
    assert [c.status_code for c in cases] == [503, 429, 400, 404, 400, 401, 401]
    for answer in cases:
        assert answer.headers["content-type"] == "application/json"
        jsonschema.validate(answer.json(), error_schema)


@pytest.mark.anyio
async def test_revoke_answers_204_with_no_body(fake: FakeWhoop) -> None:
    token = fake.issue_token()["access_token"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        answer = await client.delete(
            "/developer/v2/user/access", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 204
    assert answer.content == b""


@pytest.mark.parametrize(
    ("seed", "now"),
    [
        (1, datetime(2026, 3, 10, 8, 0, tzinfo=UTC)),  # 03:00 local: tonight's sleep still in progress
        (2, datetime(2025, 12, 24, 12, 15, tzinfo=UTC)),  # just after waking: newest sleep pending
        (3, datetime(2025, 7, 4, 23, 59, tzinfo=UTC)),
        (4, datetime(2025, 9, 1, 0, 0, tzinfo=UTC)),  # the v1_id cut-off
    ],
)
def test_datasets_for_other_seeds_and_times_validate(seed: int, now: datetime) -> None:
    data = generate_dataset(seed=seed, days=120, now=now)
    kinds = [
        ("Cycle", data.cycles, models.Cycle),
        ("Recovery", data.recoveries, models.Recovery),
        ("Sleep", data.sleeps, models.Sleep),
        ("WorkoutV2", data.workouts, models.Workout),
    ]
    for schema_name, records, model in kinds:
        assert records
        for record in records:
            assert_valid(schema_name, record)
            model.model_validate(record)
    assert all(datetime.fromisoformat(r["updated_at"]) <= now for _, rs, _ in kinds for r in rs)
    assert datetime.fromisoformat(data.cycles[0]["start"]) > now - timedelta(hours=40)
