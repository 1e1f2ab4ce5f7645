"""The requirements files must not drift from pyproject.toml, and the brief's files must exist."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _requirements(name: str) -> set[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith(("#", "-r"))}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_requirements_txt_lists_exactly_the_runtime_dependencies_of_pyproject() -> None:
    assert _requirements("requirements.txt") == set(_pyproject()["project"]["dependencies"])  # type: ignore[index]


def test_requirements_dev_txt_lists_exactly_the_dev_extra_of_pyproject() -> None:
    extra = _pyproject()["project"]["optional-dependencies"]["dev"]  # type: ignore[index]
    assert _requirements("requirements-dev.txt") == set(extra)


def test_requirements_mcp_txt_is_a_subset_of_the_runtime_dependencies() -> None:
    assert _requirements("requirements_mcp.txt") <= _requirements("requirements.txt")


def test_the_mcp_requirements_are_enough_to_import_the_mcp_server_code() -> None:
    names = {req.split(">")[0].split("=")[0].split("<")[0] for req in _requirements("requirements_mcp.txt")}
    assert {"mcp", "httpx", "pydantic", "pydantic-settings", "filelock", "python-dotenv"} <= names


def test_every_file_the_brief_names_exists_at_the_top_level() -> None:
    for name in (
        "whoop_simple.py",
        "whoop_mcp_server.py",
        "test_mcp_server.py",
        ".env.example",
        "requirements.txt",
        "requirements_mcp.txt",
        "claude_desktop_config.json",
        "README.md",
        "MCP_README.md",
        "ARCHITECTURE.md",
    ):
        assert (ROOT / name).is_file(), name


def test_secrets_are_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored
    assert ".token_cache.json" in ignored


def test_requirements_hosted_txt_lists_exactly_the_hosted_extra_of_pyproject() -> None:
    extra = _pyproject()["project"]["optional-dependencies"]["hosted"]  # type: ignore[index]
    assert _requirements("requirements-hosted.txt") == set(extra)
