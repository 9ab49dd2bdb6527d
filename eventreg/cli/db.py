"""`eventreg db ...`: the operator's tools. Whoever holds the database URL of the schema owner runs them.

Every command that changes something says first which database it acts on, and
in which environment. Commands that destroy data (rollback, seed --undo) and
repair say what they will do, then ask at a terminal or need --yes; --dry-run
shows the same and changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from eventreg.cli.context import Invocation
from eventreg.cli.options import DryRun, Json, Yes, command, group
from eventreg.cli.output import Column
from eventreg.db.files import SqlFile, packaged_dir
from eventreg.errors import DomainError, InvalidInput

if TYPE_CHECKING:
    from eventreg.db.migrations import MigrationRunner, RollbackPlan
    from eventreg.db.repair import RepairPlan
    from eventreg.db.seeds import SeedRunner, UndoPlan

NAME = "db"
app = group("Database tooling: migrations, seeds, the embedded server, checks.")
seed_app = typer.Typer(rich_markup_mode=None)  # its help is the seed callback's, with its example
server_app = group("The embedded PostgreSQL server (used when no DATABASE_URL is set).")
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
        help="Folder with sql/ (default: the seeds shipped with eventreg).",
    ),
]
LockTimeout = Annotated[float, typer.Option("--lock-timeout", help="Seconds to wait for another run to finish.")]
SHOWN = 20  # rows named in a plan before "... and N more"
F = TypeVar("F", bound=Callable[..., Any])


def _needs_database(fn: F) -> F:
    """Every db command works on the database itself: a client set up only for an eventreg
    server (EVENTREG_SERVER or `auth login --server`, no DATABASE_URL) is refused, exit 5."""

    @functools.wraps(fn)
    def checked(inv: Invocation, *args: Any, **kwargs: Any) -> Any:
        inv.require_database()
        return fn(inv, *args, **kwargs)

    return checked  # type: ignore[return-value]


def _acting_on(inv: Invocation) -> str:
    """Say which database and environment, before anything is done; returns the URL."""
    from eventreg.db.connection import describe

    url = inv.database_url()
    embedded = " (the embedded server)" if inv.settings.database_url is None else ""
    inv.out.message(f"Database: {describe(url)}{embedded}; environment: {inv.settings.env}")
    return url


def _some(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _reporter(inv: Invocation) -> Any:
    say = inv.out.message

    def report(kind: str, file: SqlFile | None, info: dict[str, Any]) -> None:
        name = file.name if file else ""
        if kind == "running":
            say(f"Running migration: {name}")
        elif kind == "applied":
            say(f"Applied migration ({info['ms']} ms)")
        elif kind == "reverting":
            say(f"Reverting migration: {name}")
        elif kind == "reverted":
            say(f"Reverted migration ({info['ms']} ms)")
        elif kind in ("would-run", "would-revert"):
            inv.out.data_line(f"-- would {'apply' if kind == 'would-run' else 'revert'} {name}")
            inv.out.data_line(info["sql"].rstrip())
        elif kind == "regranted":
            say(f"Granted the application privileges again to {info['role']} (covers new tables).")
        elif kind == "log-moved":
            say(f"Warning: {info['log']} was damaged ({info['reason']}); moved it to {info['path']}; a new log starts.")
        elif kind == "rollback-plan":
            _show_rollback(inv, info["plan"])
        elif kind == "repair-plan":
            _show_repair(inv, info["plan"])
        elif kind == "seeded":
            say(f"Seeded {info['table']} table with {info['rows']} {info['label']}")
        elif kind == "seed-modified":
            batch = info["batch"]
            say(f"Note: seed {name} changed since it was applied (batch {batch}); undo and seed again to use it.")
        elif kind == "undo-plan":
            _show_undo(inv, info["plan"])

    return report


def _migration_runner(inv: Invocation, url: str, directory: Path | None, lock_timeout: float = 60.0) -> MigrationRunner:
    from eventreg.db.history_log import log_path
    from eventreg.db.migrations import MigrationRunner

    return MigrationRunner(
        url,
        directory or packaged_dir("migrations"),
        log_path(inv.settings.home),
        lock_timeout=lock_timeout,
        report=_reporter(inv),
        env=inv.settings.env,
        table_lock_wait_ms=inv.settings.table_lock_wait_ms,
    )


@command(app)
@_needs_database
def migrate(
    inv: Invocation,
    to: Annotated[str | None, typer.Option("--to", help="Stop after this version (3 or 0003).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the SQL that would run; change nothing.")] = False,
    allow_modified: Annotated[
        bool, typer.Option("--allow-modified", help="Run although an applied file changed (see `db repair`).")
    ] = False,
    allow_out_of_order: Annotated[
        bool, typer.Option("--allow-out-of-order", help="Apply pending files older than the newest applied.")
    ] = False,
    lock_timeout: LockTimeout = 60.0,
    migrations_dir: MigrationsDir = None,
) -> None:
    """Validate the history, then apply pending migrations, each with its history row in one transaction.

    Example: eventreg db migrate --dry-run
    """
    url = _acting_on(inv)
    runner = _migration_runner(inv, url, migrations_dir, lock_timeout)
    done = runner.migrate(to, dry_run, allow_modified, allow_out_of_order)
    if dry_run:
        inv.out.message(f"{len(done)} migration(s) would be applied (dry run, nothing changed).")
    elif done:
        inv.out.message(f"Applied {len(done)} migration(s).")
    else:
        inv.out.message("Nothing to migrate: the database is up to date.")


def _show_rollback(inv: Invocation, plan: RollbackPlan) -> None:
    inv.out.message(f"Rolling back {len(plan.files)} migration(s), newest first:")
    for file in plan.files:
        lost = plan.losses.get(file.name) or []
        what = f" drops {', '.join(loss.describe() for loss in lost)}" if lost else ""
        inv.out.message(f"  {file.name}{what}")


@command(app)
@_needs_database
def rollback(
    inv: Invocation,
    steps: Annotated[int | None, typer.Option("--steps", help="How many migrations to revert (default 1).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Revert everything after this version (0 for all).")] = None,
    yes: Yes = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be reverted and its SQL; change nothing.")
    ] = False,
    lock_timeout: LockTimeout = 60.0,
    migrations_dir: MigrationsDir = None,
) -> None:
    """Revert the newest applied migrations with their down files (says what it drops, then asks).

    Example: eventreg db rollback --steps 2 --dry-run
    """
    url = _acting_on(inv)
    runner = _migration_runner(inv, url, migrations_dir, lock_timeout)

    def confirm(plan: RollbackPlan) -> bool:
        return inv.prompt.confirm(f"Roll back {len(plan.files)} migration(s)?", yes)

    done = runner.rollback(steps, to, dry_run, confirm)
    if not done:
        inv.out.message("Nothing to roll back.")
    elif dry_run:
        inv.out.message(f"{len(done)} migration(s) would be rolled back (dry run, nothing changed).")
    else:
        inv.out.message(f"Rolled back {len(done)} migration(s).")


STATUS_COLUMNS = [Column("version", "Version"), Column("name", "Name"), Column("state", "State"),
                  Column("applied_at", "Applied"), Column("detail", "Detail")]  # fmt: skip


@command(app)
@_needs_database
def status(inv: Invocation, as_json: Json = False, migrations_dir: MigrationsDir = None) -> None:
    """Every migration: applied, pending, modified, missing, or failed halfway.

    Example: eventreg db status --json
    """
    url = inv.database_url()
    states = [s.as_dict() for s in _migration_runner(inv, url, migrations_dir).status()]
    if as_json:
        inv.out.json(states)
        return
    inv.out.details([("Database", inv.describe_database())])
    inv.out.rows(states, STATUS_COLUMNS, [c.key for c in STATUS_COLUMNS], title="Migrations", empty="No migrations.")


def _show_repair(inv: Invocation, plan: RepairPlan) -> None:
    if not plan.empty or plan.missing:
        inv.out.message("Repair:")
    for item in plan.checksums:
        inv.out.message(
            f"  {item.name}: changed since it was applied; re-baseline its checksum "
            f"{item.recorded[:12]} -> {item.current[:12]}"
        )
    for failure in plan.failures:
        again = "migrate runs it again" if failure.operation == "migrate" else "rollback runs its down file again"
        inv.out.message(f"  {failure.describe()}; clear it (the next {again} from its first statement)")
    for name in plan.missing:
        inv.out.message(f"  {name}: applied but missing from the folder; not repaired (restore the file)")


@command(app)
@_needs_database
def repair(
    inv: Invocation,
    versions: Annotated[
        list[str] | None, typer.Argument(help="Only these versions (default: everything that needs it).")
    ] = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    lock_timeout: LockTimeout = 60.0,
    migrations_dir: MigrationsDir = None,
) -> None:
    """Accept applied files changed on purpose, and clear a failed no-transaction file once fixed by hand.

    Lists each change, then asks (or needs --yes). A failed file is cleared only when no
    invalid index is left; the next migrate runs it again from its first statement.

    Example: eventreg db repair --dry-run
    """
    from eventreg.db.repair import repair as run_repair

    url = _acting_on(inv)
    runner = _migration_runner(inv, url, migrations_dir, lock_timeout)

    def confirm(plan: RepairPlan) -> bool:
        return inv.prompt.confirm(f"Repair {len(plan.checksums) + len(plan.failures)} entry(ies)?", yes)

    plan = run_repair(runner, versions or None, dry_run, confirm)
    count = len(plan.checksums) + len(plan.failures)
    if not count:
        inv.out.message("Nothing to repair." if not plan.missing else "Nothing repaired: restore the missing files.")
    elif dry_run:
        inv.out.message(f"{count} entry(ies) would be repaired (dry run, nothing changed).")
    else:
        inv.out.message(f"Repaired {count} entry(ies).")


@command(app)
@_needs_database
def new(
    inv: Invocation,
    name: Annotated[str, typer.Argument(help="What the migration does, e.g. add_event_tags.")],
    migrations_dir: MigrationsDir = None,
) -> None:
    """Create the next-numbered up and down migration files in a folder of your own.

    `db migrate` reads one folder, so a folder with no migrations yet starts as a copy of
    the shipped ones; from then on, give it to every db command (or set EVENTREG_MIGRATIONS_DIR).

    Example: eventreg db new add_event_tags --migrations-dir ./migrations
    """
    from eventreg.db.files import new_files, start_folder

    if migrations_dir is None:
        raise InvalidInput(
            "db new needs --migrations-dir (or EVENTREG_MIGRATIONS_DIR): the shipped migrations are part of "
            "the package, and a folder of your own starts as a copy of them"
        )
    copied = start_folder(migrations_dir, packaged_dir("migrations"))
    if copied:
        inv.out.message(
            f"Copied the {copied} shipped migrations into {migrations_dir}; give that folder to every db command "
            "from now on (--migrations-dir or EVENTREG_MIGRATIONS_DIR)."
        )
    up, down = new_files(migrations_dir, name)
    inv.out.data_line(str(up))
    inv.out.data_line(str(down))


def _seed_runner(inv: Invocation, url: str, directory: Path | None, lock_timeout: float = 60.0) -> SeedRunner:
    from eventreg.db.seeds import SeedRunner

    return SeedRunner(
        url,
        directory or packaged_dir("seeders"),
        lock_timeout,
        report=_reporter(inv),
        table_lock_wait_ms=inv.settings.table_lock_wait_ms,
    )


def _show_undo(inv: Invocation, plan: UndoPlan) -> None:
    say = inv.out.message
    say(f"Undoing seed(s) {', '.join(sorted(plan.seeds))}:")
    if plan.deleted:
        say("  deletes " + ", ".join(f"{n} row(s) of {t}" for t, n in plan.deleted.items() if n))
    if plan.people:
        say(f"  people: {_some(plan.people)}")
    if plan.events:
        say(f"  events: {_some(plan.events)}")
    found = plan.dependents
    if found.seeds:
        say("  rows of other seeds depend on them: " + ", ".join(f"{n} ({c})" for n, c in sorted(found.seeds.items())))
    if found.count:
        say(f"  {found.count} row(s) made outside the seeds depend on them:")
        for dep in found.samples:
            say(f"    {dep.table}: {dep.row} - {dep.action}")
        if found.count > len(found.samples):
            say(f"    ... and {found.count - len(found.samples)} more")


@command(seed_app, callback=True)
@_needs_database
def seed(
    inv: Invocation,
    only: Annotated[str | None, typer.Option("--only", help="Seed (or undo) one table, or one seed file.")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Remove what the latest seed batch inserted.")] = False,
    with_dependents: Annotated[
        bool,
        typer.Option("--with-dependents", help="With --undo: also delete or unlink rows made outside the seeds."),
    ] = False,
    yes: Yes = False,
    dry_run: DryRun = False,
    lock_timeout: LockTimeout = 60.0,
    seeders_dir: SeedersDir = None,
) -> None:
    """Load the sample data (one batch, one transaction), or undo exactly what a batch inserted.

    Undo refuses while data made outside the seeds depends on the seed rows (it lists
    them), unless --with-dependents; it says what goes, then asks (or needs --yes).

    Example: eventreg db seed, eventreg db seed --undo --dry-run
    """
    if not undo and (with_dependents or dry_run):
        raise InvalidInput("--with-dependents and --dry-run go with --undo")
    url = _acting_on(inv)
    runner = _seed_runner(inv, url, seeders_dir, lock_timeout)
    if not undo:
        if not runner.run(only):
            inv.out.message(
                "Nothing to seed: every seed is applied." if only is None else f"Nothing to seed: {only} is applied."
            )
        return

    def confirm(plan: UndoPlan) -> bool:
        return inv.prompt.confirm("Delete this seed data?", yes)

    plan = runner.undo(only, with_dependents, dry_run, confirm)
    if plan is None:
        inv.out.message("No seed batch to undo." if only is None else f"Nothing to undo: {only} is not seeded.")
    elif dry_run:
        inv.out.message(f"{len(plan.seeds)} seed(s) would be undone (dry run, nothing changed).")
    else:
        inv.out.message(f"Undid {len(plan.seeds)} seed(s).")


@command(seed_app, "status")
@_needs_database
def seed_status(inv: Invocation, as_json: Json = False, seeders_dir: SeedersDir = None) -> None:
    """Which seeds are applied, in which batch, and whether a file changed since.

    Example: eventreg db seed status
    """
    rows = _seed_runner(inv, inv.database_url(), seeders_dir).status()
    if as_json:
        inv.out.json(rows)
        return
    columns = [Column("name", "Seed"), Column("table", "Table"), Column("state", "State"), Column("batch", "Batch"),
               Column("rows", "Rows"), Column("applied_at", "Applied")]  # fmt: skip
    inv.out.rows(rows, columns, [c.key for c in columns], title="Seeds", empty="No seed files found.")


@command(server_app, "status")
@_needs_database
def server_status(inv: Invocation, as_json: Json = False) -> None:
    """Whether the embedded server runs, and where.

    Example: eventreg db server status
    """
    from eventreg.db import embedded

    home = inv.settings.home
    info = embedded.info(home)
    report = {
        "running": info is not None,
        "pid": info.pid if info else None,
        "data_directory": str(embedded.pgdata(home)),
        "socket_directory": str(info.socket_dir) if info else None,
        "in_use": inv.settings.env == "dev" and inv.settings.get("DATABASE_URL") is None,
    }
    if as_json:
        inv.out.json(report)
        return
    inv.out.details(
        [
            ("Running", report["running"]),
            ("PID", report["pid"]),
            ("Data directory", report["data_directory"]),
            ("Socket directory", report["socket_directory"]),
            ("Used by this configuration", report["in_use"]),
        ],
        title="Embedded PostgreSQL",
    )


@command(server_app, "start")
@_needs_database
def server_start(inv: Invocation) -> None:
    """Start the embedded server (commands also start it when they need it).

    Example: eventreg db server start
    """
    from eventreg.db import embedded

    info = embedded.start(inv.settings.home, announce=inv.out.message)
    inv.out.message(f"The embedded PostgreSQL server is running (pid {info.pid}, socket in {info.socket_dir}).")


@command(server_app, "stop")
@_needs_database
def server_stop(inv: Invocation) -> None:
    """Stop the embedded server.

    Example: eventreg db server stop
    """
    from eventreg.db import embedded

    stopped = embedded.stop(inv.settings.home)
    inv.out.message("Stopped the embedded PostgreSQL server." if stopped else "The embedded server is not running.")


@command(app)
@_needs_database
def doctor(inv: Invocation, as_json: Json = False, migrations_dir: MigrationsDir = None) -> None:
    """Check the registration invariants and the migration history (read-only); exit code 1 on any violation.

    Example: eventreg db doctor
    """
    from eventreg.db.connection import connect
    from eventreg.db.doctor import run_checks
    from eventreg.db.history_log import database_label, log_path

    url = _acting_on(inv)
    with connect(url, autocommit=True) as conn:
        results = run_checks(
            conn,
            migrations_dir or packaged_dir("migrations"),
            log_path(inv.settings.home),
            database_label(url),
        )
    bad = sum(len(r["violations"]) for r in results)
    if as_json:
        inv.out.json({"ok": bad == 0, "violations": bad, "checks": results})
    else:
        for result in results:
            inv.out.data_line(f"{'ok  ' if result['ok'] else 'FAIL'} {result['rule']} [{result['check']}]")
            for violation in result["violations"]:
                inv.out.data_line(f"       {violation}")
            for note in result.get("notes", []):
                inv.out.data_line(f"       note: {note}")
    if bad:
        raise DomainError(f"{bad} violation(s) found")
    inv.out.message("All invariants hold.")


@command(app)
@_needs_database
def grant(
    inv: Invocation, role: Annotated[str, typer.Argument(help="An existing PostgreSQL role for the everyday commands.")]
) -> None:
    """Grant an application role just the privileges the everyday commands need.

    Run it as the schema owner after `db migrate`. The role is remembered: every later
    `db migrate` that applies a file grants again, so new tables are covered. Give the
    application role's URL to the eventreg server (or whoever runs the everyday
    commands), not to operators.

    Example: eventreg db grant eventreg_app
    """
    from eventreg.db.connection import connect
    from eventreg.db.privileges import grant_app_role

    url = _acting_on(inv)
    with connect(url, autocommit=True) as conn:
        done = grant_app_role(conn, role)
    for line in done:
        inv.out.data_line(line)
    inv.out.message(f"Granted the application privileges to {role}.")
