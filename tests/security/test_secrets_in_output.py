"""No output carries a secret: connection strings of every form, libpq's messages, tracebacks."""

from __future__ import annotations

import pytest

from eventreg.redact import mask_url
from tests import support

SECRET = "Sup3r-S3cret"
FORMS = [
    f"postgresql://app:{SECRET}@127.0.0.1:1/x",  # unreachable
    f"postgresql://app:{SECRET}%zz@127.0.0.1:1/x",  # an invalid percent escape
    f"postgresql://app:{SECRET}@with@127.0.0.1:1/x",  # an @ in the password
    f"host=127.0.0.1 port=1 user=app password={SECRET} dbname=x",  # key=value conninfo
    f"host=127.0.0.1 port=1 user=app password='{SECRET} x' dbname=x",  # quoted
    f"postgresql://127.0.0.1:1/x?user=app&password={SECRET}",  # in the query string
    f"postgresql://app:{SECRET}@127.0.0.1:1/x?sslmode=bogus",  # libpq refuses an option
]


@pytest.mark.parametrize("url", FORMS)
def test_mask_url_hides_the_password_in_every_form(url):
    assert SECRET not in mask_url(url)


@pytest.mark.parametrize("url", FORMS)
@pytest.mark.parametrize("debug", [False, True])
def test_no_error_shows_the_password_even_with_debug(url, debug, monkeypatch, tmp_path):
    for key in ("DATABASE_URL_TEST", "DATABASE_URL_PROD", "EVENTREG_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("EVENTREG_ENV", "dev")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("EVENTREG_HOME", str(tmp_path))
    monkeypatch.setenv("EVENTREG_CONNECT_WAIT_S", "0")
    monkeypatch.setenv("JWT_SECRET", "j" * 40)
    for args in (["event", "list"], ["db", "status"], ["db", "migrate"]):
        result = support.run_cli([*args, *(["--debug"] if debug else [])])
        assert result.exit_code == 5, result.output
        assert SECRET not in result.output and "j" * 40 not in result.output
        assert result.stderr.rstrip().splitlines()[-1].startswith("Error: ")
