"""`eventreg db ...`: the operator's tools. Whoever holds the database URL may run them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from eventreg import context, output
from eventreg.access import OPERATOR, declare
from eventreg.db.files import SqlFile, packaged_dir
from eventreg.options import Json

app = typer.Typer(help="Database tooling: migrations, seeds, the embedded server, checks.", no_args_is_help=True)
seed_app = typer.Typer()  # help comes from the seed callback, with its example
server_app = typer.Typer(
    help="The embedded PostgreSQL server (used when no DATABASE_URL is set).", no_args_is_help=True
)
app.add_typer(seed_app, name="seed")
app.add_typer(server_app, name="server")

MigrationsDir = Annotated[
    Path | None,
    typer.Option(
        "--migrations-dir",
        envvar="EVENTREG_MIGRATIONS_DIR",
        help="Folder with up/ and down/ (default: the migrations shipped with eventreg).",
    ),
]
SeedersDir = Annotated[
    Path | None,
    typer.Option(
        "--seeders-dir",
        envvar="EVENTREG_SEEDERS_DIR",
        help="Folder with sql/ and undo/ (default: the seeds shipped with eventreg).",
    ),
]
LockTimeout = Annotated[float, typer.Option("--lock-timeout", help="Seconds to wait for another run to finish.")]


def _migration_runner(directory: Path | None, lock_timeout: float = 60.0):  # type: ignore[no-untyped-def]
    from eventreg.db.history_log import log_path
    from eventreg.db.migrations import MigrationRunner

    return MigrationRunner(
        context.database_url(),
        directory or packaged_dir("migrations"),
        log_path(context.settings().home),
        lock_timeout=lock_timeout,
        report=_report,
    )


def _report(kind: str, file: SqlFile, info: dict[str, Any]) -> None:
    if kind == "running":
        output.message(f"Running migration: {file.name}")
    elif kind == "applied":
        output.message(f"Applied migration ({info['ms']} ms)")
    elif kind == "reverting":
        output.message(f"Reverting migration: {file.name}")
    elif kind == "reverted":
        output.message(f"Reverted migration ({info['ms']} ms)")
    elif kind in ("would-run", "would-revert"):
        verb = "apply" if kind == "would-run" else "revert"
        output.data_line(f"-- would {verb} {file.name}")
        output.data_line(info["sql"].rstrip())
    elif kind == "seeded":
        output.message(f"Seeded {info['table']} table with {info['rows']} {info['label']}")
    elif kind == "undone":
        output.message(f"Undid seed: {file.name}")


@app.command()
@declare(OPERATOR)
def migrate(
    to: Annotated[str | None, typer.Option("--to", help="Stop after this version.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the SQL that would run.")] = False,
    allow_modified: Annotated[
        bool, typer.Option("--allow-modified", help="Run even though an applied file changed.")
    ] = False,
    allow_out_of_order: Annotated[
        bool, typer.Option("--allow-out-of-order", help="Apply pending files older than the newest applied.")
    ] = False,
    lock_timeout: LockTimeout = 60.0,
    migrations_dir: MigrationsDir = None,
) -> None:
    """Apply pending migrations, each in its own transaction.

    Example: [bold]eventreg db migrate --dry-run[/bold]
    """
    runner = _migration_runner(migrations_dir, lock_timeout)
    done = runner.migrate(to, dry_run, allow_modified, allow_out_of_order)
    if dry_run:
        output.message(f"{len(done)} migration(s) would be applied (dry run, nothing changed).")
    elif done:
        output.message(f"Applied {len(done)} migration(s).")
    else:
        output.message("Nothing to migrate: the database is up to date.")


@app.command()
@declare(OPERATOR)
def rollback(
    steps: Annotated[int | None, typer.Option("--steps", help="How many migrations to revert (default 1).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Revert everything after this version (0 for all).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the SQL that would run.")] = False,
    lock_timeout: LockTimeout = 60.0,
    migrations_dir: MigrationsDir = None,
) -> None:
    """Revert the newest applied migrations with their down files.

    Example: [bold]eventreg db rollback --steps 2[/bold]
    """
    done = _migration_runner(migrations_dir, lock_timeout).rollback(steps, to, dry_run)
    if not done:
        output.message("Nothing to roll back.")
    elif not dry_run:
        output.message(f"Rolled back {len(done)} migration(s).")


@app.command()
@declare(OPERATOR)
def status(as_json: Json = False, migrations_dir: MigrationsDir = None) -> None:
    """Show every migration and whether it is applied, pending, modified or missing.

    Example: [bold]eventreg db status --json[/bold]
    """
    states = [s.as_dict() for s in _migration_runner(migrations_dir).status()]
    if as_json:
        output.emit_json(states)
        return
    output.table(
        states,
        [("version", "Version"), ("name", "Name"), ("state", "State"), ("applied_at", "Applied")],
        title="Migrations",
        empty="No migrations found.",
    )


@app.command()
@declare(OPERATOR)
def new(
    name: Annotated[str, typer.Argument(help="What the migration does, e.g. add_event_tags.")],
    migrations_dir: MigrationsDir = None,
) -> None:
    """Create the next-numbered up and down migration files.

    Example: [bold]eventreg db new add_event_tags --migrations-dir ./migrations[/bold]
    """
    up, down = _migration_runner(migrations_dir or Path("migrations")).new(name)
    output.data_line(str(up))
    output.data_line(str(down))


def _seed_runner(directory: Path | None, lock_timeout: float = 60.0):  # type: ignore[no-untyped-def]
    from eventreg.db.seeds import SeedRunner

    return SeedRunner(context.database_url(), directory or packaged_dir("seeders"), lock_timeout, report=_report)


@seed_app.callback(invoke_without_command=True)
@declare(OPERATOR)
def seed(
    ctx: typer.Context,
    only: Annotated[str | None, typer.Option("--only", help="Seed one table (or one seed file).")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Revert the most recent seed batch.")] = False,
    lock_timeout: LockTimeout = 60.0,
    seeders_dir: SeedersDir = None,
) -> None:
    """Load the sample data (one batch, one transaction), or undo the last batch.

    Example: [bold]eventreg db seed[/bold], [bold]eventreg db seed --undo[/bold]
    """
    if ctx.invoked_subcommand is not None:
        return
    if undo:
        runner = _seed_runner(seeders_dir, lock_timeout)
        undone = runner.undo()
        output.message(f"Undid {len(undone)} seed(s)." if undone else "No seed batch to undo.")
        return
    with output.progress("Seeding", None) as advance:

        def report(kind: str, file: SqlFile, info: dict[str, Any]) -> None:
            if kind == "seeding":
                advance()
            _report(kind, file, info)

        runner = _seed_runner(seeders_dir, lock_timeout)
        runner.report = report
        done = runner.run(only)
    if not done:
        output.message("Nothing to seed: every seed is applied.")


@seed_app.command("status")
@declare(OPERATOR)
def seed_status(as_json: Json = False, seeders_dir: SeedersDir = None) -> None:
    """Show which seeds are applied and in which batch.

    Example: [bold]eventreg db seed status[/bold]
    """
    rows = _seed_runner(seeders_dir).status()
    if as_json:
        output.emit_json(rows)
        return
    output.table(
        rows,
        [
            ("name", "Seed"),
            ("table", "Table"),
            ("state", "State"),
            ("batch", "Batch"),
            ("rows", "Rows"),
            ("applied_at", "Applied"),
        ],
        title="Seeds",
        empty="No seed files found.",
    )


@server_app.command("status")
@declare(OPERATOR)
def server_status(as_json: Json = False) -> None:
    """Show whether the embedded server runs, and where.

    Example: [bold]eventreg db server status[/bold]
    """
    from eventreg.db.connection import embedded_server_info, pgdata_path

    settings = context.settings()
    info = embedded_server_info(settings.home)
    report = {
        "running": info is not None,
        "pid": info["pid"] if info else None,
        "data_directory": str(pgdata_path(settings.home)),
        "socket_directory": info["socket_dir"] if info else None,
        "in_use": settings.embedded,
    }
    if as_json:
        output.emit_json(report)
        return
    output.details(
        [
            ("Running", report["running"]),
            ("PID", report["pid"]),
            ("Data directory", report["data_directory"]),
            ("Socket directory", report["socket_directory"]),
            ("Used by this configuration", report["in_use"]),
        ],
        title="Embedded PostgreSQL",
    )


@server_app.command("start")
@declare(OPERATOR)
def server_start() -> None:
    """Start the embedded server (commands also start it when they need it).

    Example: [bold]eventreg db server start[/bold]
    """
    from eventreg.db.connection import embedded_url

    embedded_url(context.settings().home)
    output.message("The embedded PostgreSQL server is running.")


@server_app.command("stop")
@declare(OPERATOR)
def server_stop() -> None:
    """Stop the embedded server.

    Example: [bold]eventreg db server stop[/bold]
    """
    from eventreg.db.connection import stop_embedded

    if stop_embedded(context.settings().home):
        output.message("Stopped the embedded PostgreSQL server.")
    else:
        output.message("The embedded PostgreSQL server is not running.")


@app.command()
@declare(OPERATOR)
def doctor(as_json: Json = False) -> None:
    """Check the registration invariants (read-only); exit code 1 when any is violated.

    Example: [bold]eventreg db doctor[/bold]
    """
    from eventreg.db.doctor import run_checks
    from eventreg.errors import DomainError

    with context.connection() as conn:
        results = run_checks(conn)
    bad = sum(len(r["violations"]) for r in results)
    if as_json:
        output.emit_json({"ok": bad == 0, "violations": bad, "checks": results})
    else:
        for result in results:
            mark = "ok  " if result["ok"] else "FAIL"
            output.data_line(f"{mark} {result['rule']}")
            for violation in result["violations"]:
                output.data_line(f"       {violation}")
    if bad:
        raise DomainError(f"{bad} invariant violation(s) found")
    output.message("All invariants hold.")


@app.command()
@declare(OPERATOR)
def grant(role: Annotated[str, typer.Argument(help="An existing PostgreSQL role for the everyday commands.")]) -> None:
    """Grant an application role just the privileges the everyday commands need.

    Run it as the schema owner after `db migrate`; then point DATABASE_URL at the
    application role for everyone but operators.

    Example: [bold]eventreg db grant eventreg_app[/bold]
    """
    import psycopg

    from eventreg.db.privileges import grant_app_role
    from eventreg.errors import NotFound

    with context.connection() as conn:
        try:
            done = grant_app_role(conn, role)
        except psycopg.errors.UndefinedObject:
            raise NotFound(f"no PostgreSQL role {role!r}: create it first (CREATE ROLE ... LOGIN)") from None
    for line in done:
        output.data_line(line)
    output.message(f"Granted the application privileges to {role}.")
