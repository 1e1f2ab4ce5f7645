"""The fake's HTML pages: the consent screen and the error page (no scripts, one <style> block)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

SCOPE_DESCRIPTIONS = {
    "read:recovery": "Read Recovery data, including score, heart rate variability, and resting heart rate.",
    "read:cycles": (
        "Read cycles data, including day Strain and average heart rate during a physiological cycle."
    ),
    "read:workout": "Read workout data, including activity Strain and average heart rate.",
    "read:sleep": "Read sleep data, including performance % and duration per sleep stage.",
    "read:profile": "Read profile data, including name and email.",
    "read:body_measurement": "Read body measurements data, including height, weight, and max heart rate.",
    "offline": "Stay connected when you are away (refresh tokens).",
}

_STYLE = """
body { font-family: system-ui, sans-serif; background: #101418; color: #e8eef2; margin: 0; }
main { max-width: 32rem; margin: 3rem auto; padding: 2rem; background: #1b232b; border-radius: 12px; }
.badge { display: inline-block; padding: .2rem .6rem; border-radius: 999px; background: #f5a623;
  color: #101418; font-weight: 700; font-size: .8rem; letter-spacing: .03em; }
h1 { font-size: 1.4rem; margin: .8rem 0; }
ul { padding-left: 1.2rem; } li { margin: .4rem 0; } code { color: #7fd4ff; }
.actions { display: flex; gap: 1rem; margin-top: 1.5rem; }
button { flex: 1; padding: .8rem; border: 0; border-radius: 8px; font-size: 1rem; cursor: pointer; }
.approve { background: #33c27f; color: #06140d; font-weight: 700; }
.deny { background: #3a4652; color: #e8eef2; }
.error { color: #ff8a80; }
small { color: #9aa8b4; }
"""
# Only pages that offer a choice of person carry these rules, so the one-person page stays as it was.
_SELECT_STYLE = """label { display: block; margin-top: 1rem; }
select { width: 100%; margin-top: .4rem; padding: .5rem; border-radius: 8px; font-size: 1rem; }
"""


def _page(title: str, body: str, style: str = _STYLE) -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body><main><span class='badge'>Simulated WHOOP (demo)</span>{body}</main></body></html>\n"
    )


def _person_select(people: Sequence[tuple[int, str]], selected: int | None) -> str:
    # The empty value is "whoever is next in turn", so logins that keep the default go round the people.
    options = ["<option value=''>The next simulated person in turn</option>"]
    for index, label in people:
        mark = " selected" if index == selected else ""
        options.append(f"<option value='{index}'{mark}>{escape(label)}</option>")
    return (
        f"<label for='person'>Sign in as</label><select id='person' name='person'>{''.join(options)}</select>"
    )


def consent_page(
    *,
    request_id: str,
    client_id: str,
    scopes: list[str],
    redirect_uri: str,
    people: Sequence[tuple[int, str]] = (),
    selected: int | None = None,
) -> str:
    """The Approve/Deny page; the form posts back to the same URL (relative, so a mount prefix works).

    With ``people`` (index, label) it also offers who to sign in as, ``selected`` preselected.
    """
    items = "".join(
        f"<li><code>{escape(s)}</code> — {escape(SCOPE_DESCRIPTIONS.get(s, s))}</li>" for s in scopes
    )
    body = (
        "<h1>Simulated WHOOP (demo): authorize access</h1>"
        f"<p>The app <code>{escape(client_id)}</code> wants to:</p><ul>{items}</ul>"
        f"<p><small>You will be sent back to {escape(redirect_uri)}. "
        "No real WHOOP account is involved: all data is synthetic.</small></p>"
        "<form method='post' action='auth'>"
        f"<input type='hidden' name='request_id' value='{escape(request_id)}'>"
        f"{_person_select(people, selected) if people else ''}"
        "<div class='actions'>"
        "<button class='approve' type='submit' name='decision' value='approve'>Approve</button>"
        "<button class='deny' type='submit' name='decision' value='deny'>Deny</button>"
        "</div></form>"
    )
    style = _STYLE + _SELECT_STYLE if people else _STYLE
    return _page("Simulated WHOOP (demo) – authorize", body, style)


def error_page(message: str) -> str:
    """A 400 page for requests that cannot be redirected back to the app."""
    body = f"<h1>Simulated WHOOP (demo): authorization error</h1><p class='error'>{escape(message)}</p>"
    return _page("Simulated WHOOP (demo) – error", body)
