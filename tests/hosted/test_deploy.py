"""The deployment files name commands and settings that exist (they cannot be run here: no images)."""

from __future__ import annotations

import re

from typer.main import get_command

from whoopkit.cli import create_app
from whoopkit.config import PROJECT_ROOT, Settings


def test_every_command_in_compose_and_the_dockerfile_is_a_whoopkit_command_with_real_options() -> None:
    cli = get_command(create_app())
    commands = cli.commands  # type: ignore[attr-defined]
    found = 0
    for path in ("compose.yaml", "deploy/Dockerfile"):
        text = (PROJECT_ROOT / path).read_text(encoding="utf-8")
        for args in re.findall(r'\["whoopkit", ([^\]]*)\]', text):
            name, *options = [a.strip().strip('"') for a in args.split(",")]
            assert name in commands, (path, name)
            known = {opt for param in commands[name].params for opt in param.opts}
            assert {o for o in options if o.startswith("--")} <= known, (path, name, options)
            found += 1
    assert found >= 4  # migrate, serve, worker, the image's default


def test_the_example_environment_sets_only_settings_whoopkit_reads() -> None:
    names = {field.alias for field in Settings.model_fields.values()}
    text = (PROJECT_ROOT / "deploy/hosted.env.example").read_text(encoding="utf-8")
    used = set(re.findall(r"^(WHOOP_[A-Z_]+)=", text, flags=re.M))
    assert {"WHOOP_HOSTED", "WHOOP_DATABASE_URL", "WHOOP_REDIS_URL", "WHOOP_TOKEN_KEY"} <= used
    assert used <= names
