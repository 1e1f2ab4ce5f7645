"""WHOOP's recovery zones and strain levels, and the literal types results use for states and trends."""

from __future__ import annotations

import math
from typing import Literal

from whoopkit.models import ScoreState

RecoveryZone = Literal["green", "yellow", "red"]
StrainLevel = Literal["light", "moderate", "high", "all out"]
State = Literal["SCORED", "PENDING_SCORE", "UNSCORABLE", "MISSING"]
Polarity = Literal["higher_better", "lower_better", "neutral"]
Direction = Literal["improving", "declining", "stable", "rising", "falling", "insufficient data"]


def recovery_zone(score: float) -> RecoveryZone:
    """WHOOP's recovery zone: green 67–100, yellow 34–66, red 0–33 (judged on the whole percent shown).

    Raises:
        ValueError: if ``score`` is NaN.
    """
    if math.isnan(score):
        raise ValueError("recovery score is NaN")
    shown = math.floor(score + 0.5)  # WHOOP shows whole percentages; classify what the user sees
    if shown >= 67:
        return "green"
    if shown >= 34:
        return "yellow"
    return "red"


def strain_level(strain: float) -> StrainLevel:
    """WHOOP's strain bands on the 0–21 scale: light < 10, moderate 10–14, high 14–18, all out ≥ 18."""
    if strain < 10:
        return "light"
    if strain < 14:
        return "moderate"
    if strain < 18:
        return "high"
    return "all out"


def state_of(score_state: ScoreState | None) -> State:
    """The ``*_state`` of a record: its WHOOP score state, or MISSING when there is no record."""
    return "MISSING" if score_state is None else score_state.value
