"""Settings: defaults, ``.env`` handling, path anchoring and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from whoopkit.config import OAUTH_SCOPES, PROJECT_ROOT, Settings, load_settings
from whoopkit.errors import ConfigError

pytestmark = pytest.mark.usefixtures("clean_env")


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings(_env_file=None)
    assert settings.whoop_api_base_url == "https://api.prod.whoop.com/developer"
    assert settings.whoop_oauth_base_url == "https://api.prod.whoop.com/oauth/oauth2"
    assert settings.whoop_redirect_uri == "http://localhost:3000/callback"
    assert settings.whoop_token_cache == PROJECT_ROOT / ".token_cache.json"
    assert settings.whoop_data_dir == PROJECT_ROOT / ".whoopkit"
    assert (settings.host, settings.port) == ("127.0.0.1", 3000)
    assert settings.host_is_loopback
    assert not settings.whoop_demo
    assert not settings.has_credentials
    assert settings.client_secret == ""
    assert settings.whoop_cache_ttl == 60.0
    assert settings.mcp_tool_allowlist is None


def test_the_scopes_include_offline_so_a_refresh_token_is_issued() -> None:
    assert "offline" in OAUTH_SCOPES
    assert {"read:recovery", "read:cycles", "read:workout", "read:sleep", "read:profile"} <= set(OAUTH_SCOPES)


def test_the_env_file_is_the_one_at_the_project_root_not_the_working_directory() -> None:
    env_file = Settings.model_config.get("env_file")
    assert env_file == PROJECT_ROOT / ".env"
    assert Path(str(env_file)).is_absolute()


def test_values_from_a_dotenv_file_are_read_and_relative_paths_anchor_at_the_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "WHOOP_CLIENT_ID=abc\nWHOOP_CLIENT_SECRET=s3cret\nWHOOP_TOKEN_CACHE=tokens/cache.json\n"
        "WHOOP_DATA_DIR=var/data\nPORT=3111\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(_env_file=env_file)
    assert settings.has_credentials
    assert settings.client_secret == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.whoop_token_cache == PROJECT_ROOT / "tokens" / "cache.json"
    assert settings.whoop_data_dir == PROJECT_ROOT / "var" / "data"
    assert settings.port == 3111


def test_environment_variables_override_the_dotenv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=3111\nOLLAMA_MODEL=from-file\n", encoding="utf-8")
    monkeypatch.setenv("PORT", "3222")
    settings = load_settings(_env_file=env_file)
    assert settings.port == 3222
    assert settings.ollama_model == "from-file"


def test_absolute_and_home_paths_are_kept(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, WHOOP_TOKEN_CACHE=tmp_path / "t.json", WHOOP_DATA_DIR="~/wk")
    assert settings.whoop_token_cache == tmp_path / "t.json"
    assert settings.whoop_data_dir == Path("~/wk").expanduser()


@pytest.mark.parametrize("port", ["abc", "0", "70000", "-1"])
def test_an_invalid_port_is_a_config_error_naming_port(port: str) -> None:
    with pytest.raises(ConfigError, match=r"\bPORT\b") as info:
        load_settings(_env_file=None, PORT=port)
    assert str(info.value).startswith("Invalid configuration: PORT")


def test_an_invalid_port_in_the_environment_is_a_config_error_naming_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "http")
    with pytest.raises(ConfigError, match=r"\bPORT\b"):
        load_settings(_env_file=None)


@pytest.mark.parametrize("name", ["WHOOP_API_BASE_URL", "WHOOP_OAUTH_BASE_URL", "OLLAMA_HOST"])
def test_a_url_without_http_scheme_is_a_config_error_naming_the_variable(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(_env_file=None, **{name: "api.prod.whoop.com"})


def test_trailing_slashes_are_stripped_from_base_urls() -> None:
    settings = load_settings(_env_file=None, WHOOP_API_BASE_URL="http://127.0.0.1:9/developer/")
    assert settings.whoop_api_base_url == "http://127.0.0.1:9/developer"


def test_several_problems_are_reported_in_one_message() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, PORT="x", WHOOP_HTTP_TIMEOUT="-3")
    assert "PORT" in str(info.value)
    assert "WHOOP_HTTP_TIMEOUT" in str(info.value)


def test_a_blank_client_id_counts_as_unset() -> None:
    settings = load_settings(_env_file=None, WHOOP_CLIENT_ID="  ", WHOOP_CLIENT_SECRET="x")
    assert settings.whoop_client_id is None
    assert not settings.has_credentials


@pytest.mark.parametrize(("host", "loopback"), [("localhost", True), ("::1", True), ("0.0.0.0", False)])
def test_host_is_loopback(host: str, loopback: bool) -> None:
    assert load_settings(_env_file=None, HOST=host).host_is_loopback is loopback


def test_the_mcp_tool_allowlist_is_parsed_from_a_comma_list() -> None:
    settings = load_settings(_env_file=None, WHOOP_MCP_TOOLS=" get_profile, get_recovery ,,")
    assert settings.mcp_tool_allowlist == frozenset({"get_profile", "get_recovery"})


def test_whoop_demo_accepts_1() -> None:
    assert load_settings(_env_file=None, WHOOP_DEMO="1").whoop_demo
