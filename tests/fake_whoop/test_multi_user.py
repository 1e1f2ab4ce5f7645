"""The multi-user fake: several simulated people, one app's rate budget, WHOOP's member cap."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fake_whoop.conftest import NOW, REDIRECT_URI, Clock, authorize_url
from whoopkit.fake_whoop import FakeWhoop, create_fake_whoop
from whoopkit.fake_whoop.app import MEMBER_CAP_MESSAGE
from whoopkit.fake_whoop.data import USER_ID, generate_dataset

pytestmark = pytest.mark.anyio

CLIENT = {"client_id": "demo-client", "client_secret": "demo-secret"}
COLLECTIONS = (
    "/developer/v2/cycle",
    "/developer/v2/recovery",
    "/developer/v2/activity/sleep",
    "/developer/v2/activity/workout",
)
# Computed from the single-person fake BEFORE it learnt about people: every page of the four
# collections (limit 25) plus profile and body of create_fake_whoop(now=NOW) ...
SINGLE_PERSON_API_SHA256 = "4a05bca2ad653b683ec2db6a72606f2efedd7694f7c727a58865fb193c565710"
# ... and the generated records, journal and v1 ids of generate_dataset(now=NOW).
SINGLE_PERSON_DATA_SHA256 = "2642a03f66f98d26947ca12618e2a69dbb3e8667881a098b82d183ee0eaa84a3"


@asynccontextmanager
async def _client(fake: FakeWhoop) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://fake") as client:
        yield client


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _exchange(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    answer = await client.post(
        "/oauth/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **CLIENT},
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def _authorize(client: httpx.AsyncClient, **params: str) -> dict[str, str]:
    """The query the auto-approving fake redirects back with (a code, or an error)."""
    answer = await client.get(authorize_url(**params))
    assert answer.status_code == 302
    return _query(answer.headers["location"])


async def _login(client: httpx.AsyncClient, **params: str) -> str:
    """Sign in through /auth (auto-approve) and the code exchange; returns the access token."""
    query = await _authorize(client, **params)
    assert "code" in query, query
    token: str = (await _exchange(client, query["code"]))["access_token"]
    return token


async def _get(client: httpx.AsyncClient, token: str, path: str, **params: str) -> Any:
    answer = await client.get(path, headers=_bearer(token), params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _all_records(client: httpx.AsyncClient, token: str, path: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    params = {"limit": "25"}
    while True:
        page = await _get(client, token, path, **params)
        records += page["records"]
        if "next_token" not in page:
            return records
        params = {"limit": "25", "nextToken": page["next_token"]}


def _digest(fake: FakeWhoop, person: int) -> str:
    data = fake.person_data(person)
    blob = json.dumps(
        [
            data.cycles,
            data.sleeps,
            data.recoveries,
            data.workouts,
            data.profile,
            data.body,
            sorted(data.journal.items()),
            sorted(data.v1_activity_ids().items()),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


async def test_the_default_single_person_fake_serves_exactly_the_records_it_always_did() -> None:
    fake = create_fake_whoop(now=NOW, requests_per_minute=10**6, requests_per_day=10**7)
    assert fake.people == 1
    token = fake.issue_token()["access_token"]
    digest = hashlib.sha256()
    async with _client(fake) as client:
        for path in COLLECTIONS:
            params = {"limit": "25"}
            while True:
                answer = await client.get(path, params=params, headers=_bearer(token))
                digest.update(answer.content)
                next_token = answer.json().get("next_token")
                if not next_token:
                    break
                params = {"limit": "25", "nextToken": next_token}
        for path in ("/developer/v2/user/profile/basic", "/developer/v2/user/measurement/body"):
            digest.update((await client.get(path, headers=_bearer(token))).content)
    assert digest.hexdigest() == SINGLE_PERSON_API_SHA256
    assert _digest(fake, 0) == SINGLE_PERSON_DATA_SHA256
    assert fake.data.profile["user_id"] == USER_ID == 10129
    assert fake.data.profile["first_name"] == "Alex"


async def test_the_consent_page_of_a_single_person_fake_offers_no_choice_of_person() -> None:
    async with _client(create_fake_whoop(now=NOW)) as client:
        page = await client.get(authorize_url())
    assert "<select" not in page.text and "Sign in as" not in page.text


async def test_two_logins_sign_in_two_different_people_with_their_own_profile_and_data(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, auto_approve=True, people=3)
    async with _client(fake) as client:
        first, second = await _login(client), await _login(client)
        profiles = [await _get(client, t, "/developer/v2/user/profile/basic") for t in (first, second)]
        bodies = [await _get(client, t, "/developer/v2/user/measurement/body") for t in (first, second)]
        cycles = [await _get(client, t, "/developer/v2/cycle") for t in (first, second)]
    assert [p["user_id"] for p in profiles] == [10129, 10130]
    assert profiles[0]["first_name"] == "Alex" and profiles[1]["email"] == "person1@example.com"
    assert bodies[0] != bodies[1]
    assert cycles[0]["records"] != cycles[1]["records"]
    for profile, page in zip(profiles, cycles, strict=True):
        assert {c["user_id"] for c in page["records"]} == {profile["user_id"]}
    assert fake.members == {0, 1}


async def test_logins_that_name_nobody_go_round_the_people_in_turn(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, auto_approve=True, people=2)
    async with _client(fake) as client:
        tokens = [await _login(client) for _ in range(3)]
        ids = [(await _get(client, t, "/developer/v2/user/profile/basic"))["user_id"] for t in tokens]
    assert ids == [10129, 10130, 10129]


async def test_each_person_has_the_same_records_in_every_fake_instance(clock: Clock) -> None:
    one = create_fake_whoop(now=NOW, clock=clock, people=3)
    other = create_fake_whoop(now=NOW, clock=clock, people=5)
    assert [_digest(one, k) for k in range(3)] == [_digest(other, k) for k in range(3)]
    assert len({_digest(one, k) for k in range(3)}) == 3
    assert _digest(one, 0) == SINGLE_PERSON_DATA_SHA256
    alone = generate_dataset(now=NOW, person=2)
    assert alone.cycles == one.person_data(2).cycles and alone.profile == one.profile(2)


async def test_no_integer_or_uuid_id_of_one_person_names_a_record_of_another(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, people=4)
    seen: dict[str, set[Any]] = {"cycle": set(), "sleep": set(), "workout": set(), "v1": set()}
    for k in range(4):
        data = fake.person_data(k)
        for kind, ids in (
            ("cycle", {c["id"] for c in data.cycles}),
            ("sleep", {s["id"] for s in data.sleeps}),
            ("workout", {w["id"] for w in data.workouts}),
            ("v1", set(data.v1_activity_ids())),
        ):
            assert not seen[kind] & ids, (kind, k)
            seen[kind] |= ids
        assert {r["user_id"] for r in data.recoveries} == {USER_ID + k}


async def test_a_token_of_one_person_never_returns_another_person_s_records(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, people=2, requests_per_minute=10_000)
    alex, sam = fake.issue_token(person=0)["access_token"], fake.issue_token(person=1)["access_token"]
    theirs = fake.person_data(1)
    async with _client(fake) as client:
        for path in COLLECTIONS:
            records = await _all_records(client, alex, path)
            assert records and {r["user_id"] for r in records} == {USER_ID}
        cycle, sleep, workout = theirs.cycles[3], theirs.sleeps[0], theirs.workouts[0]
        v1_id = next(iter(theirs.v1_activity_ids()))
        for path in (
            f"/developer/v2/cycle/{cycle['id']}",
            f"/developer/v2/cycle/{cycle['id']}/recovery",
            f"/developer/v2/cycle/{cycle['id']}/sleep",
            f"/developer/v2/activity/sleep/{sleep['id']}",
            f"/developer/v2/activity/workout/{workout['id']}",
            f"/developer/v1/activity-mapping/{v1_id}",
        ):
            assert (await client.get(path, headers=_bearer(alex))).status_code == 404, path
            assert (await client.get(path, headers=_bearer(sam))).status_code == 200, path


async def test_the_consent_page_lets_the_user_choose_who_signs_in(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, people=3)
    async with _client(fake) as client:
        page = await client.get(authorize_url())
        assert "Sign in as" in page.text and "<script" not in page.text.lower()
        assert "Priya Lindqvist (person2@example.com)" in page.text
        request_id = re.search(r"name='request_id' value='([^']+)'", page.text)
        assert request_id is not None
        answer = await client.post(
            "/oauth/oauth2/auth",
            data={"request_id": request_id.group(1), "decision": "approve", "person": "2"},
        )
        assert answer.status_code == 303
        token = (await _exchange(client, _query(answer.headers["location"])["code"]))["access_token"]
        assert (await _get(client, token, "/developer/v2/user/profile/basic"))["user_id"] == 10131


async def test_auth_signs_in_the_person_named_by_a_person_parameter_or_a_login_hint(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, auto_approve=True, people=3)
    async with _client(fake) as client:
        by_index = await _login(client, person="2")
        by_email = await _login(client, login_hint="Person1@example.com")
        by_user_id = await _login(client, login_hint="10131")
        unknown_hint = await _login(client, login_hint="nobody@example.com")  # ignored: next in turn
        ids = [
            (await _get(client, t, "/developer/v2/user/profile/basic"))["user_id"]
            for t in (by_index, by_email, by_user_id, unknown_hint)
        ]
        refused = await _authorize(client, person="3")
    assert ids == [10131, 10130, 10131, 10129]
    assert refused["error"] == "invalid_request" and refused["state"] == "state-12345"


async def test_every_person_shares_the_app_s_budget_of_100_requests_a_minute(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, people=2)
    alex, sam = fake.issue_token(person=0)["access_token"], fake.issue_token(person=1)["access_token"]
    async with _client(fake) as client:
        for _ in range(50):
            for token in (alex, sam):
                answer = await client.get("/developer/v2/user/profile/basic", headers=_bearer(token))
                assert answer.status_code == 200
        assert answer.headers["x-ratelimit-remaining"] == "0"
        limited = await client.get("/developer/v2/cycle", headers=_bearer(sam))
        assert limited.status_code == 429
        assert (await client.get("/developer/v2/cycle", headers=_bearer(alex))).status_code == 429
        assert fake.stats.rate_limited == 2
        assert fake.stats.requests_by_person == {0: 51, 1: 51}
        stats = (await client.get("/_fake/stats")).json()
        assert stats["requests_by_person"] == {"0": 51, "1": 51}
        clock.advance(60)
        assert (await client.get("/developer/v2/cycle", headers=_bearer(sam))).status_code == 200


async def test_the_member_cap_refuses_the_eleventh_person_with_whoop_s_user_limit_message(
    clock: Clock,
) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, auto_approve=True, people=12, member_cap=10)
    async with _client(fake) as client:
        tokens = [await _login(client) for _ in range(10)]
        refused = await _authorize(client)
        assert refused == {
            "error": "access_denied",
            "error_description": MEMBER_CAP_MESSAGE,
            "state": "state-12345",
        }
        assert "user limit" in MEMBER_CAP_MESSAGE
        assert (await _authorize(client, person="11"))["error"] == "access_denied"
        again = await _login(client, person="4")  # a member can always sign in again
        assert (await _get(client, again, "/developer/v2/user/profile/basic"))["user_id"] == 10133
        assert (await _get(client, tokens[9], "/developer/v2/user/profile/basic"))["user_id"] == 10138
    assert fake.members == set(range(10))
    assert fake.stats.member_cap_refusals == 2


async def test_refreshing_a_token_keeps_signing_in_the_same_person(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, people=2)
    tokens = fake.issue_token(person=1)
    async with _client(fake) as client:
        answer = await client.post(
            "/oauth/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **CLIENT},
        )
        assert answer.status_code == 200
        profile = await _get(client, answer.json()["access_token"], "/developer/v2/user/profile/basic")
    assert profile["user_id"] == 10130


async def test_a_signed_token_carries_its_person_to_another_fake_with_the_same_secret(clock: Clock) -> None:
    issuer = create_fake_whoop(now=NOW, clock=clock, people=3, token_secret="s3cret")
    server = create_fake_whoop(now=NOW, clock=clock, people=3, token_secret="s3cret")
    small = create_fake_whoop(now=NOW, clock=clock, people=2, token_secret="s3cret")
    token = issuer.issue_token(person=2)["access_token"]
    async with _client(server) as client:
        assert (await _get(client, token, "/developer/v2/user/profile/basic"))["user_id"] == 10131
    async with _client(small) as client:  # it does not simulate person 2: not a token it accepts
        assert (await client.get("/developer/v2/cycle", headers=_bearer(token))).status_code == 401


async def test_revoking_access_leaves_the_other_people_signed_in(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, people=2)
    alex, sam = fake.issue_token(person=0)["access_token"], fake.issue_token(person=1)["access_token"]
    async with _client(fake) as client:
        assert (await client.delete("/developer/v2/user/access", headers=_bearer(sam))).status_code == 204
        assert (await client.get("/developer/v2/cycle", headers=_bearer(sam))).status_code == 401
        assert (await client.get("/developer/v2/cycle", headers=_bearer(alex))).status_code == 200


async def test_record_mutations_and_the_export_act_on_the_chosen_person_only(clock: Clock) -> None:
    fake = create_fake_whoop(now=NOW, clock=clock, people=2)
    sam = fake.issue_token(person=1)["access_token"]
    theirs, ours = fake.person_data(1), fake.person_data(0)
    workout_id = theirs.workouts[1]["id"]
    async with _client(fake) as client:
        wrong = await client.post("/_fake/delete", json={"kind": "workout", "id": workout_id})
        assert wrong.status_code == 404  # person 0 by default, who has no such workout
        deleted = await client.post("/_fake/delete", json={"kind": "workout", "id": workout_id, "person": 1})
        assert deleted.status_code == 200
        gone = await client.get(f"/developer/v2/activity/workout/{workout_id}", headers=_bearer(sam))
        assert gone.status_code == 404
        cycle_id = theirs.cycles[2]["id"]
        rescored = await client.post(
            "/_fake/rescore", json={"kind": "cycle", "id": cycle_id, "strain": 12.5, "person": "1"}
        )
        assert rescored.status_code == 200 and rescored.json()["score"]["strain"] == 12.5
        scored = await client.post("/_fake/score_pending", json={"person": 1})
        assert scored.status_code == 200 and scored.json()["scored"] >= 1
        stats = (await client.get("/_fake/stats", params={"person": "1"})).json()
        assert stats["deleted"] == 1
        export = await client.get("/_fake/export.zip", params={"person": "1"})
        assert export.status_code == 200
        for bad in ({"person": 2}, {"person": -1}, {"person": True}):
            answer = await client.post("/_fake/delete", json={"kind": "workout", "id": workout_id, **bad})
            assert answer.status_code == 400
        assert (await client.get("/_fake/export.zip", params={"person": "7"})).status_code == 400
        minted = await client.post("/_fake/token", json={"person": 1})
        assert minted.status_code == 200
        profile = await _get(client, minted.json()["access_token"], "/developer/v2/user/profile/basic")
        assert profile["user_id"] == 10130
    assert workout_id not in {w["id"] for w in theirs.workouts}
    assert len(ours.workouts) == len(generate_dataset(now=NOW).workouts)


def test_people_and_member_cap_below_one_are_refused() -> None:
    from whoopkit.fake_whoop.__main__ import main

    with pytest.raises(ValueError, match="people"):
        create_fake_whoop(people=0)
    with pytest.raises(ValueError, match="member_cap"):
        create_fake_whoop(member_cap=0)
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", "--people", "0"])
    assert exit_info.value.code == 2
