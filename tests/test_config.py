import stat

import pytest

from eventreg.config import load_settings, parse_dotenv
from eventreg.errors import InvalidInput


def test_dotenv_parsing():
    text = "export A=1\nB=\"two words\"\nC='x=y'\n# comment\nD=plain # trailing\n\nbroken line\n"
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x=y", "D": "plain"}


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql:///from-file\nJWT_SECRET=file-secret\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql:///from-env")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    settings = load_settings(cwd=tmp_path)
    assert settings.database_url == "postgresql:///from-env" and settings.jwt_secret == "file-secret"


def test_embedded_mode_generates_a_private_secret_once(tmp_path, monkeypatch):
    for key in ("DATABASE_URL", "JWT_SECRET", "EVENTREG_ENV"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("EVENTREG_HOME", str(tmp_path / "home"))
    settings = load_settings(cwd=tmp_path)
    assert settings.embedded
    first = settings.secret()
    path = tmp_path / "home" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 32
    assert load_settings(cwd=tmp_path).secret() == first


def test_a_configured_database_needs_a_configured_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql:///x")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("EVENTREG_HOME", str(tmp_path))
    with pytest.raises(InvalidInput, match="JWT_SECRET is not set"):
        load_settings(cwd=tmp_path).secret()


def test_bad_numbers_in_settings_are_usage_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTREG_BCRYPT_ROUNDS", "lots")
    with pytest.raises(InvalidInput, match="EVENTREG_BCRYPT_ROUNDS"):
        load_settings(cwd=tmp_path)
