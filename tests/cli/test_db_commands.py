import json

from tests.conftest import MIGRATIONS, Cli


def test_migrate_prints_each_file_and_status_json(cli: Cli, empty_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_db)
    result = cli("db", "migrate")
    assert result.exit_code == 0
    assert "Running migration: 0001_create_users_table.sql" in result.stderr
    assert "Applied migration" in result.stderr
    status = json.loads(cli("db", "status", "--json").stdout)
    assert {row["state"] for row in status} == {"applied"}
    assert len(status) == len(list((MIGRATIONS / "up").glob("*.sql")))
    assert set(status[0]) == {"version", "name", "state", "applied_at", "checksum"}


def test_seed_and_undo_from_the_cli(cli: Cli):
    result = cli("db", "seed")
    assert result.exit_code == 0
    assert "Seeded users table with 5 default users" in result.stderr
    assert json.loads(cli("db", "seed", "status", "--json").stdout)[0]["state"] == "applied"
    undo = cli("db", "seed", "--undo")
    assert undo.exit_code == 0 and "Undid 4 seed(s)." in undo.stderr


def test_unreachable_database_is_one_line_and_exit_5(cli: Cli, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@127.0.0.1:1/nowhere")
    result = cli("db", "status")
    assert result.exit_code == 5
    assert result.stderr.count("\n") == 1
    assert "cannot connect to postgresql://app:***@127.0.0.1:1/nowhere" in result.stderr
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.output


def test_unmigrated_database_says_run_migrate(cli: Cli, empty_db, monkeypatch, login_as):
    monkeypatch.setenv("DATABASE_URL", empty_db)
    monkeypatch.setenv("EVENTREG_TOKEN", "x.y.z")
    result = cli("auth", "status")
    assert result.exit_code in (3, 5)
    assert "Traceback" not in result.output


def test_env_prod_uses_database_url_prod(cli: Cli, monkeypatch):
    monkeypatch.setenv("DATABASE_URL_PROD", "postgresql://u:pw@127.0.0.1:1/prod")
    result = cli("--env", "prod", "db", "status")
    assert result.exit_code == 5 and "/prod" in result.stderr


def test_unknown_env_is_a_usage_error(cli: Cli):
    result = cli("--env", "staging", "db", "status")
    assert result.exit_code == 2 and "unknown environment" in result.stderr


def test_dotenv_file_is_read(cli: Cli, monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL")
    (tmp_path / ".env").write_text('DATABASE_URL="postgresql://u:pw@127.0.0.1:1/fromdotenv"\n')
    result = cli("db", "status")
    assert result.exit_code == 5 and "fromdotenv" in result.stderr


def test_version_flag(cli: Cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("eventreg ")


def test_usage_error_exits_2(cli: Cli):
    assert cli("db", "rollback", "--steps", "many").exit_code == 2
