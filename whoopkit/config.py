"""Settings, read from the environment and from ``.env`` at the project root.

Claude Desktop starts servers with an arbitrary working directory and a minimal environment,
so nothing here depends on the cwd: relative paths resolve against the project root.
"""

from __future__ import annotations

from contextlib import suppress
from functools import lru_cache
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from whoopkit.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

OAUTH_SCOPES = (
    "read:recovery",
    "read:cycles",
    "read:workout",
    "read:sleep",
    "read:profile",
    "read:body_measurement",
    "offline",
)


class Settings(BaseSettings):
    """Every knob of whoopkit; the environment names are a public interface."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    whoop_client_id: str | None = Field(default=None, alias="WHOOP_CLIENT_ID")
    whoop_client_secret: SecretStr | None = Field(default=None, alias="WHOOP_CLIENT_SECRET")
    whoop_redirect_uri: str = Field(default="http://localhost:3000/callback", alias="WHOOP_REDIRECT_URI")
    whoop_api_base_url: str = Field(
        default="https://api.prod.whoop.com/developer", alias="WHOOP_API_BASE_URL"
    )
    whoop_oauth_base_url: str = Field(
        default="https://api.prod.whoop.com/oauth/oauth2", alias="WHOOP_OAUTH_BASE_URL"
    )
    whoop_token_cache: Path = Field(default=Path(".token_cache.json"), alias="WHOOP_TOKEN_CACHE")
    whoop_token_key: SecretStr | None = Field(default=None, alias="WHOOP_TOKEN_KEY")
    whoop_data_dir: Path = Field(default=Path(".whoopkit"), alias="WHOOP_DATA_DIR")
    whoop_demo: bool = Field(default=False, alias="WHOOP_DEMO")
    whoop_cache_ttl: float = Field(default=60.0, ge=0, le=3600, alias="WHOOP_CACHE_TTL")
    whoop_database_url: str | None = Field(default=None, alias="WHOOP_DATABASE_URL")
    whoop_hosted: bool = Field(default=False, alias="WHOOP_HOSTED")
    whoop_redis_url: str | None = Field(default=None, alias="WHOOP_REDIS_URL")
    whoop_fresh_seconds: float = Field(default=300.0, ge=0, le=86_400, alias="WHOOP_FRESH_SECONDS")
    whoop_sync_interval: float = Field(default=900.0, ge=0, le=86_400, alias="WHOOP_SYNC_INTERVAL")
    whoop_request_deadline: float = Field(default=20.0, gt=0, le=600, alias="WHOOP_REQUEST_DEADLINE")
    whoop_http_timeout: float = Field(default=20.0, gt=0, le=300, alias="WHOOP_HTTP_TIMEOUT")
    whoop_mcp_tools: str | None = Field(default=None, alias="WHOOP_MCP_TOOLS")
    whoop_mcp_http_token: SecretStr | None = Field(default=None, alias="WHOOP_MCP_HTTP_TOKEN")
    ollama_host: str = Field(default="http://127.0.0.1:11434", alias="OLLAMA_HOST")
    ollama_model: str = Field(default="llama3.2", alias="OLLAMA_MODEL")
    ollama_timeout: float = Field(default=60.0, gt=0, le=600, alias="OLLAMA_TIMEOUT")
    host: str = Field(default="127.0.0.1", alias="HOST")
    port: int = Field(default=3000, ge=1, le=65535, alias="PORT")
    web_allow_remote: bool = Field(default=False, alias="WHOOP_WEB_ALLOW_REMOTE")
    web_access_token: SecretStr | None = Field(default=None, alias="WHOOP_WEB_ACCESS_TOKEN")

    @field_validator("whoop_token_cache", "whoop_data_dir")
    @classmethod
    def _anchor_at_project_root(cls, value: Path) -> Path:
        value = value.expanduser()
        return value if value.is_absolute() else PROJECT_ROOT / value

    @field_validator("whoop_api_base_url", "whoop_oauth_base_url", "ollama_host")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator(
        "whoop_client_id", "whoop_mcp_tools", "whoop_database_url", "whoop_redis_url", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def has_credentials(self) -> bool:
        """Whether a WHOOP app's client id and secret are configured."""
        return bool(self.whoop_client_id and self.whoop_client_secret)

    @property
    def credentials_problem(self) -> str | None:
        """What is wrong when only one of ``WHOOP_CLIENT_ID`` / ``WHOOP_CLIENT_SECRET`` is set, else None."""
        has_id, has_secret = bool(self.whoop_client_id), bool(self.client_secret.strip())
        if has_id == has_secret:
            return None
        present, absent = (
            ("WHOOP_CLIENT_ID", "WHOOP_CLIENT_SECRET")
            if has_id
            else ("WHOOP_CLIENT_SECRET", "WHOOP_CLIENT_ID")
        )
        return (
            f"{present} is set but {absent} is not, so whoopkit runs the demo instead of your WHOOP app: "
            f"set both in .env (from the WHOOP developer dashboard), or remove {present} to silence this."
        )

    @property
    def client_secret(self) -> str:
        """The client secret in clear, for the token endpoint only."""
        return self.whoop_client_secret.get_secret_value() if self.whoop_client_secret else ""

    @property
    def host_is_loopback(self) -> bool:
        """Whether ``host`` only accepts connections from this machine."""
        if self.host == "localhost":
            return True
        try:
            return ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def web_origin(self) -> str:
        """The web app's own address as a browser reaches it (``http://localhost:3000``).

        On this machine it takes the redirect URI's loopback name (``localhost`` or ``127.0.0.1``),
        because ``/login`` sends the browser there (the OAuth state cookie is bound to that host).
        """
        host = "localhost" if self.host_is_loopback or self.host in ("0.0.0.0", "::") else self.host
        redirect = urlsplit(self.whoop_redirect_uri)
        with suppress(ValueError):
            if (
                host == "localhost"
                and redirect.scheme == "http"
                and redirect.hostname in ("localhost", "127.0.0.1", "::1")
                and (redirect.port or 80) == self.port
            ):
                host = redirect.hostname
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def login_url(self) -> str:
        """Where a user logs in to WHOOP: the web app's ``/login`` on the configured host and port.

        Hosted, that is the public address WHOOP sends users back to (the redirect URI's origin).
        """
        if self.whoop_hosted:
            parts = urlsplit(self.whoop_redirect_uri)
            return f"{parts.scheme}://{parts.netloc}/login"
        return f"{self.web_origin}/login"

    @property
    def database_url(self) -> str:
        """The history store: ``WHOOP_DATABASE_URL``, else a SQLite file in ``WHOOP_DATA_DIR``."""
        if self.whoop_database_url:
            return self.whoop_database_url
        return f"sqlite:///{self.whoop_data_dir / 'whoop.db'}"

    def hosted_problem(self) -> str | None:
        """What hosted mode lacks (PostgreSQL, Redis, the token key, the WHOOP app), or None when ready."""
        missing = []
        if not (self.whoop_database_url or "").startswith("postgresql"):
            missing.append("WHOOP_DATABASE_URL=postgresql+psycopg://user:password@host/db")
        if not (self.whoop_redis_url or "").startswith(("redis://", "rediss://", "unix://")):
            missing.append("WHOOP_REDIS_URL=redis://host:6379/0")
        if self.whoop_token_key is None or not self.whoop_token_key.get_secret_value().strip():
            missing.append("WHOOP_TOKEN_KEY (make one with: python -m whoopkit.token_crypto)")
        if not self.has_credentials:
            missing.append("WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET (your WHOOP app)")
        if not missing:
            return None
        return "Hosted mode (WHOOP_HOSTED=1 or --hosted) needs " + "; ".join(missing) + "."

    @property
    def mcp_tool_allowlist(self) -> frozenset[str] | None:
        """The tool names ``WHOOP_MCP_TOOLS`` allows, or None for all."""
        if not self.whoop_mcp_tools:
            return None
        return frozenset(name.strip() for name in self.whoop_mcp_tools.split(",") if name.strip())


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and ``.env``, applying keyword overrides.

    Raises:
        ConfigError: a value is malformed; the message names the variable.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            field = Settings.model_fields.get(name)
            env_name = field.alias if field and field.alias else name.upper()
            problems.append(f"{env_name} {err['msg'].lower()} (got {err.get('input')!r})")
        raise ConfigError("Invalid configuration: " + "; ".join(problems) + ".") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once.

    Raises:
        ConfigError: a value is malformed.
    """
    return load_settings()
