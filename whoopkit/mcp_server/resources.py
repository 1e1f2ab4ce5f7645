"""The server's resources (JSON views of three tools) and its prompts.

No ``from __future__ import annotations`` here: the SDK evaluates the signatures at registration.
"""

import json
from collections.abc import Awaitable, Callable

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult

from whoopkit.mcp_server.errors import Advice, resource_errors
from whoopkit.mcp_server.state import ServerState
from whoopkit.mcp_server.tools.status import auth_status_result
from whoopkit.mcp_server.tools.today import health_summary_result, profile_result


def _structured_json(result: CallToolResult) -> str:
    return json.dumps(result.structured_content, indent=2, ensure_ascii=False)


def register_resources(server: MCPServer[ServerState], state: ServerState, advice: Advice) -> None:
    """Add ``whoop://status``, ``whoop://profile`` and ``whoop://today``.

    The SDK gives static resources no request context, so they reach the service through ``state``
    (the same object the lifespan hands the tools).
    """

    def guarded(fn: Callable[[], Awaitable[str]]) -> Callable[[], Awaitable[str]]:
        return resource_errors(fn, advice)

    @server.resource(
        "whoop://status", name="status", title="WHOOP connection status", mime_type="application/json"
    )
    @guarded
    async def status_resource() -> str:
        """Connection status: logged in, token expiry, scopes, demo or real."""
        return _structured_json(await auth_status_result(await state.service()))

    @server.resource("whoop://profile", name="profile", title="WHOOP profile", mime_type="application/json")
    @guarded
    async def profile_resource() -> str:
        """Your WHOOP profile."""
        return _structured_json(await profile_result(await state.service()))

    @server.resource("whoop://today", name="today", title="WHOOP today", mime_type="application/json")
    @guarded
    async def today_resource() -> str:
        """Today's recovery, strain, sleep and recent workouts (the health summary)."""
        return _structured_json(await health_summary_result(await state.service()))


def register_prompts(server: MCPServer[ServerState]) -> None:
    """Add the morning check, the weekly review and the workout comparison prompts."""

    @server.prompt(name="morning_check", title="Should I train today?")
    def morning_prompt() -> str:
        """Morning check: recovery, sleep and recent load → how hard to train today."""
        return (
            "Using my WHOOP data, tell me whether I should train hard, train moderately or rest today. "
            "Call should_i_train_today (and get_health_summary if you need more detail). Answer in at most "
            "five sentences: the recommendation and day-strain target first, then the numbers behind it "
            "(recovery %, HRV vs my baseline, resting HR, hours slept vs needed, recent strain). "
            "If the data is simulated, say so; if it is stale, say how old it is."
        )

    @server.prompt(name="weekly_review", title="Weekly review")
    def weekly_prompt(weeks_ago: str = "0") -> str:
        """Review of a week (0 = the last 7 days): recovery, sleep, strain, workouts and what to change."""
        return (
            f"Give me a weekly WHOOP review (weeks_ago={weeks_ago}; 0 means the last 7 days). Call "
            f"get_weekly_report with weeks_ago={weeks_ago}, and get_trends with days=30 for context. Cover "
            "average recovery and HRV, sleep hours vs need and bedtime consistency, strain and workouts, "
            "the best and worst day, what changed from the week before, and end with two concrete "
            "suggestions for next week."
        )

    @server.prompt(name="compare_recent_workouts", title="Compare recent workouts")
    def workouts_prompt(count: str = "5", sport: str = "") -> str:
        """Compare the last few workouts (optionally of one sport): strain, heart rate, zones, energy."""
        which = f"{sport} workouts" if sport else "workouts"
        return (
            f"Compare my last {count} {which} from WHOOP. Call get_recent_workouts with limit={count} "
            "(or get_history with kind=workouts for more). Show a table (date, sport, minutes, strain, "
            "average/max bpm, kcal, minutes in zones 4-5), say which was hardest, and whether my heart rate "
            "at similar strain is trending down (fitter) or up (fatigue). Use get_history with kind=days "
            "to see how I recovered the next morning."
        )
