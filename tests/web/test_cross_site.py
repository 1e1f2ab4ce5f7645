"""Other websites cannot spend the WHOOP budget through the user's browser (issue 9.2).

An ``<img src="http://localhost:3000/workouts-view?days=365">`` on any page makes the browser send
``Sec-Fetch-Site: cross-site``; six of them used to fill WHOOP's 100 requests a minute.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from whoopkit.fake_whoop import FakeWhoop

IMG = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
NAVIGATION = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-User": "?1"}


@pytest.mark.parametrize(
    "path",
    [
        "/workouts-view?days=365",
        "/cycles-view?days=359",
        "/sleep-view",
        "/recovery-view",
        "/ai-insights-view/data",
    ],
)
def test_a_cross_site_page_request_gets_403_and_costs_no_whoop_request(
    authed: TestClient, fake: FakeWhoop, path: str
) -> None:
    response = authed.get(path, headers=IMG)
    assert response.status_code == 403
    assert "other websites" in response.text
    assert "content-security-policy" in response.headers
    assert fake.stats.requests == 0


def test_six_cross_site_year_views_leave_the_budget_for_the_next_ordinary_page(
    authed: TestClient, fake: FakeWhoop
) -> None:
    for days in range(365, 359, -1):
        assert authed.get(f"/workouts-view?days={days}", headers=IMG).status_code == 403
    assert fake.stats.requests == 0
    assert (
        authed.get("/workouts-view?days=7", headers={"Sec-Fetch-Site": "none", **NAVIGATION}).status_code
        == 200
    )


def test_a_cross_site_top_level_navigation_to_a_range_view_is_refused_too(authed: TestClient) -> None:
    response = authed.get("/workouts-view?days=365", headers={"Sec-Fetch-Site": "cross-site", **NAVIGATION})
    assert response.status_code == 403


@pytest.mark.parametrize("site", ["none", "same-origin", None])
def test_bookmarks_own_links_and_clients_without_fetch_metadata_get_the_page(
    authed: TestClient, site: str | None
) -> None:
    headers = {**NAVIGATION, "Sec-Fetch-Site": site} if site else {}
    assert authed.get("/workouts-view?days=7", headers=headers).status_code == 200


def test_the_login_flow_stays_open_to_cross_site_navigations(client: TestClient) -> None:
    cross = {"Sec-Fetch-Site": "cross-site", **NAVIGATION}
    # WHOOP's consent page sends the browser back to /callback; a link elsewhere may start at /login.
    assert client.get("/login", headers=cross).status_code == 303
    assert client.get("/callback?code=x&state=y", headers=cross).status_code != 403
    # After the cross-site redirect chain the browser still says cross-site for the dashboard it lands on.
    assert client.get("/dashboard", headers=cross).status_code != 403


def test_a_cross_site_subresource_request_for_the_dashboard_is_refused(client: TestClient) -> None:
    assert client.get("/dashboard", headers=IMG).status_code == 403
