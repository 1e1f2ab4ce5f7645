"""Today's tools: profile, recovery, strain, last night's sleep, recent cycles and workouts, body, summary.

Each reads the service from the lifespan context and answers from the local store, which the
service refreshes first when it is older than ``WHOOP_FRESH_SECONDS``.

No ``from __future__ import annotations`` here: the SDK evaluates the tool signatures at registration.
"""

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from whoopkit import analytics
from whoopkit.errors import WhoopUnavailableError
from whoopkit.mcp_server.common import (
    Ctx,
    Limit,
    ToolFn,
    content,
    envelope,
    fmt,
    note,
    recovery_sentence,
    score,
    state_sentence,
)
from whoopkit.mcp_server.schemas import (
    BodyOut,
    CyclesOut,
    HealthSummaryOut,
    ProfileOut,
    RecoveryOut,
    SleepOut,
    StrainOut,
    WorkoutsOut,
)
from whoopkit.mcp_server.state import service_of
from whoopkit.models import UserBodyMeasurement
from whoopkit.text import one_line

if TYPE_CHECKING:
    from whoopkit.service import WhoopService

RECENT = 3  # cycles and recoveries: today, and enough to find the newest scored one
RECENT_SLEEPS = 10  # enough to find last night's main sleep among naps
SUMMARY_WORKOUTS = 3
RECENT_DAYS = 7


def body_out(envelope_fields: dict[str, Any], summary_suffix: str, body: UserBodyMeasurement) -> BodyOut:
    """Body measurements in centimetres, kilograms and BMI."""
    return BodyOut(
        **envelope_fields,
        summary=(
            f"Height {body.height_meter * 100:.0f} cm, weight {body.weight_kilogram:.1f} kg, "
            f"max heart rate {body.max_heart_rate} bpm." + summary_suffix
        ),
        height_cm=round(body.height_meter * 100, 1),
        weight_kg=round(body.weight_kilogram, 1),
        max_heart_rate_bpm=body.max_heart_rate,
        bmi=round(body.weight_kilogram / body.height_meter**2, 1),
    )


async def get_user_profile(ctx: Ctx) -> Annotated[CallToolResult, ProfileOut]:
    """Your WHOOP profile: name, email and user id."""
    return await profile_result(await service_of(ctx))


async def profile_result(service: "WhoopService") -> CallToolResult:
    """``get_user_profile``'s result (also the ``whoop://profile`` resource)."""
    answer = await service.profile()
    profile = answer.data
    return content(
        ProfileOut(
            **envelope(service, answer.freshness),
            summary=f"WHOOP member {one_line(f'{profile.first_name} {profile.last_name}')} "
            f"({one_line(profile.email, 120)})." + note(service, answer.freshness),
            user_id=profile.user_id,
            first_name=profile.first_name,
            last_name=profile.last_name,
            email=profile.email,
        )
    )


async def get_recovery_score(ctx: Ctx) -> Annotated[CallToolResult, RecoveryOut]:
    """Today's recovery: %, zone, HRV, resting HR, SpO2, skin temp; while it is PENDING_SCORE, also the
    newest scored one.
    """
    service = await service_of(ctx)
    today = service.today()
    # One read refreshes recoveries and the cycles that date them; older ones only if the week has none.
    answer = await service.recoveries(today - timedelta(days=RECENT_DAYS - 1), today)
    if not answer.data:
        answer = await service.latest("recoveries", RECENT)
    if not answer.data:
        raise ToolError(
            "WHOOP has no recovery yet: recovery is computed from a night's sleep, so wear the strap "
            "overnight and sync it in the WHOOP app."
        )
    del answer.data[RECENT:]
    oldest = min(r.created_at for r in answer.data).date()
    cycles = service.stored_cycles(oldest - timedelta(days=2), service.today() + timedelta(days=1))
    items = [analytics.summarize_recovery(r, cycles) for r in answer.data]
    latest = items[0]
    scored = next((i for i in items if i.state == "SCORED"), None)
    text = recovery_sentence(latest)
    if latest.state != "SCORED" and scored is not None:
        text += " Newest scored: " + recovery_sentence(scored)
    return content(
        RecoveryOut(
            **envelope(service, answer.freshness),
            summary=text + note(service, answer.freshness),
            latest=latest,
            latest_scored=scored if latest.state != "SCORED" else None,
        )
    )


async def get_current_strain(ctx: Ctx) -> Annotated[CallToolResult, StrainOut]:
    """Day strain so far in the current cycle (0-21 scale), energy (kJ, kcal), heart rate (bpm)."""
    service = await service_of(ctx)
    answer = await service.latest("cycles", 1)
    if not answer.data:
        raise ToolError("WHOOP has no cycle yet: wear the strap and sync it in the WHOOP app.")
    item = analytics.summarize_strain(answer.data[0])
    if item.strain is None:
        text = state_sentence(f"The current cycle (since {item.start_local:%Y-%m-%d %H:%M})", item.state)
    else:
        when = "so far today" if item.open else "for the last cycle"
        text = (
            f"Day strain {item.strain:.1f}/21 ({item.strain_level}) {when}, since "
            f"{item.start_local:%Y-%m-%d %H:%M}: {fmt(item.energy_kcal, ' kcal')} "
            f"({fmt(item.energy_kj, ' kJ')}), average HR {fmt(item.avg_hr_bpm, ' bpm')}."
        )
    return content(
        StrainOut(
            **envelope(service, answer.freshness), summary=text + note(service, answer.freshness), cycle=item
        )
    )


async def get_recent_cycles(ctx: Ctx, limit: Limit = 7) -> Annotated[CallToolResult, CyclesOut]:
    """The last `limit` physiological cycles (≈ days): day strain, energy, heart rate; newest first."""
    service = await service_of(ctx)
    answer = await service.latest("cycles", limit)
    items = [analytics.summarize_strain(c) for c in answer.data]
    strains = [i.strain for i in items if i.strain is not None]
    # The average every face shows leaves out the open cycle: its strain is still accumulating.
    completed = [i.strain for i in items if i.strain is not None and not i.open]
    text = f"{len(items)} cycles"
    if strains:
        text += f", day strain {min(strains):.1f}-{max(strains):.1f}"
    if completed:
        text += f" (mean of the completed days {sum(completed) / len(completed):.1f})"
    pending = sum(1 for i in items if i.state == "PENDING_SCORE")
    if pending:
        text += f", {pending} pending score"
    return content(
        CyclesOut(
            **envelope(service, answer.freshness),
            summary=text + "." + note(service, answer.freshness),
            count=len(items),
            cycles=items,
        )
    )


async def get_latest_sleep(ctx: Ctx) -> Annotated[CallToolResult, SleepOut]:
    """Last night's sleep (naps skipped): hours asleep vs needed, stages in minutes, performance %."""
    service = await service_of(ctx)
    answer = await service.latest("sleeps", RECENT_SLEEPS)
    sleep = next((s for s in answer.data if not s.nap), None)
    if sleep is None:
        raise ToolError(
            "WHOOP has no recent main sleep: wear the strap overnight and sync it in the WHOOP app."
        )
    item = analytics.summarize_sleep(sleep)
    if item.asleep_hours is None:
        text = state_sentence(f"The sleep ending {item.end_local:%Y-%m-%d %H:%M}", item.state)
    else:
        text = (
            f"Slept {item.asleep_hours:.1f} h of {fmt(item.need_hours, ' h', 1)} needed "
            f"(performance {fmt(item.performance_pct, '%')}), deep {fmt(item.sws_minutes, ' min')}, "
            f"REM {fmt(item.rem_minutes, ' min')}, woke {item.end_local:%Y-%m-%d %H:%M}."
        )
    return content(
        SleepOut(
            **envelope(service, answer.freshness), summary=text + note(service, answer.freshness), sleep=item
        )
    )


async def get_recent_workouts(ctx: Ctx, limit: Limit = 5) -> Annotated[CallToolResult, WorkoutsOut]:
    """The last `limit` workouts: sport, minutes, strain, heart rate (bpm), energy (kJ, kcal), zones."""
    service = await service_of(ctx)
    answer = await service.latest("workouts", limit)
    items = [analytics.summarize_workout(w) for w in answer.data]
    text = f"{len(items)} workouts"
    if items:
        text += ": " + "; ".join(
            f"{w.local_date} {one_line(w.sport)} {w.duration_minutes:.0f} min "
            f"strain {score(w.strain, w.state, '', 1)}"
            for w in items[:5]
        )
    return content(
        WorkoutsOut(
            **envelope(service, answer.freshness),
            summary=text + "." + note(service, answer.freshness),
            count=len(items),
            workouts=items,
        )
    )


async def get_body_measurements(ctx: Ctx) -> Annotated[CallToolResult, BodyOut]:
    """Height (cm), weight (kg), BMI and max heart rate (bpm) as set in the WHOOP app."""
    service = await service_of(ctx)
    answer = await service.body()
    if answer.data is None:
        if answer.freshness.stale:
            raise WhoopUnavailableError(answer.freshness.problem or "WHOOP is unreachable right now.")
        raise ToolError("WHOOP has no body measurements for you: enter height and weight in the WHOOP app.")
    return content(
        body_out(envelope(service, answer.freshness), note(service, answer.freshness), answer.data)
    )


async def get_health_summary(ctx: Ctx) -> Annotated[CallToolResult, HealthSummaryOut]:
    """Today at a glance: recovery, day strain so far, last night's sleep, recent workouts, body, name."""
    return await health_summary_result(await service_of(ctx))


async def health_summary_result(service: "WhoopService") -> CallToolResult:
    """``get_health_summary``'s result (also the ``whoop://today`` resource)."""
    answer = await service.recent()
    recent, freshness = answer.data, answer.freshness
    fields, suffix = envelope(service, freshness), note(service, freshness)
    out = HealthSummaryOut(**fields, summary="")
    parts: list[str] = []
    if recent.profile is not None:
        out.name = f"{recent.profile.first_name} {recent.profile.last_name}"
    else:
        out.problems.append("profile: not stored yet and WHOOP did not answer.")
    if recent.recoveries:
        out.recovery = analytics.summarize_recovery(recent.recoveries[0], recent.cycles)
        parts.append(recovery_sentence(out.recovery))
    if recent.cycles:
        out.strain = analytics.summarize_strain(recent.cycles[0])
        if out.strain.strain is None:
            parts.append(f"Day strain so far: {score(None, out.strain.state)}.")
        else:
            parts.append(
                f"Day strain so far {out.strain.strain:.1f}/21, {fmt(out.strain.energy_kcal, ' kcal')}."
            )
    main = next((s for s in recent.sleeps if not s.nap), None)
    if main is not None:
        out.sleep = analytics.summarize_sleep(main)
        if out.sleep.asleep_hours is None:
            parts.append(f"Last night's sleep: {score(None, out.sleep.state)}.")
        else:
            parts.append(
                f"Slept {out.sleep.asleep_hours:.1f} h of {fmt(out.sleep.need_hours, ' h', 1)} "
                f"needed (performance {fmt(out.sleep.performance_pct, '%')})."
            )
    out.recent_workouts = [analytics.summarize_workout(w) for w in recent.workouts[:SUMMARY_WORKOUTS]]
    if out.recent_workouts:
        w = out.recent_workouts[0]
        parts.append(
            f"Last workout: {one_line(w.sport)} on {w.local_date}, {w.duration_minutes:.0f} min, "
            f"strain {score(w.strain, w.state, '', 1)}."
        )
    if recent.body is not None:
        out.body = body_out(fields, suffix, recent.body)
    if out.problems:
        parts.append("Missing: " + ", ".join(p.split(":")[0] for p in out.problems) + ".")
    out.summary = (" ".join(parts) or "No WHOOP data in the last 7 days yet.") + suffix
    return content(out)


TOOLS: list[tuple[ToolFn, str]] = [
    (get_user_profile, "User profile"),
    (get_recovery_score, "Recovery score"),
    (get_current_strain, "Current strain"),
    (get_recent_cycles, "Recent cycles"),
    (get_latest_sleep, "Latest sleep"),
    (get_recent_workouts, "Recent workouts"),
    (get_body_measurements, "Body measurements"),
    (get_health_summary, "Health summary"),
]
