"""Settings: the right database or none, and limits a client cannot stretch."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventreg.config import load_settings, parse_dotenv
from eventreg.errors import InvalidInput, Unavailable


@pytest.fixture
def clean(monkeypatch, tmp_path) -> Path:
    for key in ("EVENTREG_ENV", "DATABASE_URL", "DATABASE_URL_TEST", "DATABASE_URL_PROD", "JWT_SECRET",
                "EVENTREG_TOKEN_HOURS", "EVENTREG_BCRYPT_ROUNDS"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("EVENTREG_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_dotenv_parsing():
    text = "# c\nexport A=1\nB='two words'\nC=\"x\" \nD=v # note\nbad line\nE=\n"
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x", "D": "v", "E": ""}


def test_the_environment_wins_over_dotenv(clean, monkeypatch):
    (clean / ".env").write_text("DATABASE_URL=postgresql://from-file/db\n")
    assert load_settings().database_url == "postgresql://from-file/db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")
    assert load_settings().database_url == "postgresql://from-env/db"


@pytest.mark.parametrize("env, variable", [("test", "DATABASE_URL_TEST"), ("prod", "DATABASE_URL_PROD")])
def test_only_dev_falls_back_to_the_embedded_server(clean, monkeypatch, env, variable):
    monkeypatch.setenv("DATABASE_URL", "postgresql://dev-only/db")  # not taken for test or prod
    with pytest.raises(Unavailable, match=variable):
        _ = load_settings(env).database_url
    monkeypatch.delenv("DATABASE_URL")
    assert load_settings("dev").database_url is None  # dev without a URL: the embedded server


def test_an_unknown_environment_is_a_usage_error(clean):
    with pytest.raises(InvalidInput, match="unknown environment"):
        load_settings("staging")


@pytest.mark.parametrize("hours", ["0", "721", "-5", "1e9", "soon"])
def test_the_session_lifetime_is_bounded(clean, monkeypatch, hours):
    monkeypatch.setenv("EVENTREG_TOKEN_HOURS", hours)
    with pytest.raises(InvalidInput, match="EVENTREG_TOKEN_HOURS"):
        _ = load_settings().token_hours


def test_bcrypt_below_10_only_in_the_test_environment(clean, monkeypatch):
    monkeypatch.setenv("EVENTREG_BCRYPT_ROUNDS", "4")
    with pytest.raises(InvalidInput, match="EVENTREG_BCRYPT_ROUNDS"):
        _ = load_settings("dev").bcrypt_rounds
    assert load_settings("test").bcrypt_rounds == 4


@pytest.mark.parametrize("env", ["dev", "test", "prod"])
def test_a_short_secret_is_refused_with_any_configured_database(clean, monkeypatch, env):
    monkeypatch.setenv({"dev": "DATABASE_URL", "test": "DATABASE_URL_TEST", "prod": "DATABASE_URL_PROD"}[env], "x")
    monkeypatch.setenv("JWT_SECRET", "short")
    with pytest.raises(Unavailable, match="at least 32 bytes"):
        load_settings(env).secret()
    monkeypatch.delenv("JWT_SECRET")
    with pytest.raises(Unavailable, match="JWT_SECRET is not set"):
        load_settings(env).secret()


def test_embedded_mode_makes_a_private_secret_once(clean):
    settings = load_settings("dev")
    first = settings.secret()
    path = settings.private / "jwt_secret"
    assert len(first) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert (settings.private.stat().st_mode & 0o777) == 0o700
    assert load_settings("dev").secret() == first
