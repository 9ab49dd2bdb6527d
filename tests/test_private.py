"""Private files (the token fallback, the generated JWT secret) hold against a hostile local setup.

Each test plants one thing another user or a mistake could leave at the path (a
symlink, a FIFO, a device, loose permissions, someone else's file or folder) and
sees it refused, or checks how a file is made (0600 in 0700 folders, atomically).
No database: these are file system rules.
"""

from __future__ import annotations

import os
import pwd
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eventreg import private
from eventreg.config import Settings

BOUND_S = 10.0  # how long a refusal may take before the test calls it a hang (it takes milliseconds)
KNOWN_SECRET = "attacker-chosen-secret-that-is-long-enough-to-be-accepted-" * 2


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def nobody() -> tuple[int, int]:
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's file or a device needs root")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A private folder as eventreg makes it, for a file `token` inside."""
    return private.ensure_dir(tmp_path / "home" / "private" / "tokens")


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for one test; the old one comes back afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(previous)


def bounded(call: Callable[[], Any], unblock: Callable[[], None] | None = None) -> Any:
    """Run `call` in a thread; fail (instead of hanging the suite) when it does not end within
    BOUND_S. `unblock` then frees the stuck thread, such as by opening a FIFO's other end."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND_S)
    if worker.is_alive():
        if unblock:
            unblock()
        worker.join(BOUND_S)
        pytest.fail(f"still blocked after {BOUND_S:g}s: the path was opened as it is, not refused")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def open_writer(fifo: Path) -> Callable[[], None]:
    """Open the FIFO's writing end, which releases a reader blocked in open()."""

    def unblock() -> None:
        os.close(os.open(fifo, os.O_WRONLY))

    return unblock


# -- reading refuses what was planted ------------------------------------------------


def test_symlink_at_file_path_is_refused_not_followed(folder: Path, tmp_path: Path) -> None:
    # Protection: O_NOFOLLOW and the lstat check. A link to a valid 0600 file of ours is still
    # refused: following it would read (or trust) whatever the link's maker chose.
    target = tmp_path / "elsewhere"
    target.write_text("token-of-someone-else")
    target.chmod(0o600)
    (folder / "token").symlink_to(target)
    with pytest.raises(private.UnsafeFile, match="symbolic link"):
        private.read(folder / "token")


def test_fifo_at_file_path_is_refused_at_once(folder: Path) -> None:
    # Protection: the kind is checked before opening and the open is non-blocking. Without
    # them, open() waits for a writer forever: every command hung on a planted FIFO.
    fifo = folder / "token"
    os.mkfifo(fifo, 0o600)
    started = time.monotonic()
    with pytest.raises(private.UnsafeFile, match="FIFO"):
        bounded(lambda: private.read(fifo), unblock=open_writer(fifo))
    assert time.monotonic() - started < BOUND_S


def test_symlink_to_a_device_is_refused(folder: Path) -> None:
    # Protection: no symlink is followed, so /dev/zero (endless) or a terminal is never opened.
    (folder / "token").symlink_to("/dev/zero")
    with pytest.raises(private.UnsafeFile, match="symbolic link"):
        bounded(lambda: private.read(folder / "token"))


@needs_root
def test_character_device_is_refused_before_opening(folder: Path) -> None:
    # Protection: only a regular file is read. A device node owned by us with mode 0600
    # passes the owner and mode checks; its kind alone refuses it.
    device = folder / "token"
    os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # the same device as /dev/zero
    with pytest.raises(private.UnsafeFile, match="a device"):
        bounded(lambda: private.read(device))


def test_world_readable_file_is_refused_with_the_fix(folder: Path) -> None:
    # Protection: mode check on the file. The message says what to run.
    token = folder / "token"
    token.write_text("t0ken")
    token.chmod(0o644)
    with pytest.raises(private.UnsafeFile) as refused:
        private.read(token)
    assert "0644" in refused.value.message
    assert f"chmod 600 {token}" in refused.value.message


@needs_root
def test_file_of_another_user_is_refused(folder: Path) -> None:
    # Protection: owner check on the file. Root could read it anyway; the point is that a
    # file someone else made is not trusted as our token or secret.
    token = folder / "token"
    token.write_text("planted")
    token.chmod(0o600)
    os.chown(token, *nobody())
    with pytest.raises(private.UnsafeFile, match="belongs to nobody"):
        private.read(token)


def test_folder_others_may_enter_is_refused(folder: Path) -> None:
    # Protection: mode check on the folder (others could list it, or replace entries if writable).
    private.write(folder / "token", "t0ken")
    folder.chmod(0o755)
    with pytest.raises(private.UnsafeFile) as refused:
        private.read(folder / "token")
    assert f"chmod 700 {folder}" in refused.value.message
    with pytest.raises(private.UnsafeFile, match="0755"):
        private.write(folder / "token", "other")


@needs_root
def test_folder_of_another_user_is_refused(folder: Path) -> None:
    # Protection: owner check on the folder: whoever owns it can swap the files in it.
    private.write(folder / "token", "t0ken")
    os.chown(folder, *nobody())
    with pytest.raises(private.UnsafeFile, match="belongs to nobody"):
        private.read(folder / "token")


def test_folder_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    # Protection: the folder is opened with O_NOFOLLOW. The link points at a perfectly private
    # folder of ours with a valid file: it is refused all the same, for reading and writing.
    real = private.ensure_dir(tmp_path / "real")
    private.write(real / "token", "t0ken")
    home = private.ensure_dir(tmp_path / "home" / "private")
    (home / "tokens").symlink_to(real, target_is_directory=True)
    with pytest.raises(private.UnsafeFile, match="symbolic link"):
        private.read(home / "tokens" / "token")
    with pytest.raises(private.UnsafeFile, match="symbolic link"):
        private.write(home / "tokens" / "token", "other")
    with pytest.raises(private.UnsafeFile, match="symbolic link"):
        private.ensure_dir(home / "tokens")
    assert private.read(real / "token") == "t0ken"


def test_fifo_where_the_folder_should_be_is_refused_at_once(tmp_path: Path) -> None:
    # Protection: the folder is opened with O_DIRECTORY | O_NONBLOCK, so a FIFO there fails at once.
    home = private.ensure_dir(tmp_path / "home" / "private")
    os.mkfifo(home / "tokens", 0o600)
    with pytest.raises(private.UnsafeFile, match="FIFO"):
        bounded(lambda: private.read(home / "tokens" / "token"), unblock=open_writer(home / "tokens"))


def test_missing_file_or_folder_reads_as_none(tmp_path: Path) -> None:
    assert private.read(tmp_path / "nothing" / "here" / "token") is None
    assert private.read(private.ensure_dir(tmp_path / "empty") / "token") is None
    assert not (tmp_path / "nothing").exists()  # reading creates nothing


def test_oversized_file_is_refused(folder: Path) -> None:
    # Protection: a bounded read; a huge file is not a token.
    private.write(folder / "token", "x" * (private.MAX_BYTES + 1))
    with pytest.raises(private.UnsafeFile, match="KiB"):
        private.read(folder / "token")


# -- writing and creating ---------------------------------------------------------


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o277])
def test_write_creates_a_0600_file_in_0700_folders_whatever_the_umask(
    tmp_path: Path, umask: Callable[[int], None], mask: int
) -> None:
    # Protection: explicit modes (and fchmod) on every folder and file made: EVENTREG_HOME too.
    # A umask of 000 must not loosen them; one of 277 must not leave a folder we cannot write.
    home = tmp_path / "home"
    umask(mask)
    private.write(home / "private" / "tokens" / "token", "t0ken")
    for made in (home, home / "private", home / "private" / "tokens"):
        assert mode(made) == 0o700, made
    assert mode(home / "private" / "tokens" / "token") == 0o600
    assert private.read(home / "private" / "tokens" / "token") == "t0ken"


def test_ensure_dir_creates_eventreg_home_0700_on_first_use(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0o022)
    home = tmp_path / "fresh" / "eventreg"
    assert private.ensure_dir(home) == home
    assert mode(home) == 0o700
    assert mode(tmp_path / "fresh") == 0o700  # a parent it had to make is private too


def test_make_dirs_creates_a_missing_home_0700_and_leaves_an_existing_one(
    tmp_path: Path, umask: Callable[[int], None]
) -> None:
    # For EVENTREG_HOME: made private on first use by whichever command comes first; an existing
    # home (which the embedded server under root opens to its system user) is left alone.
    umask(0o022)
    assert private.make_dirs(tmp_path / "new" / "home") == tmp_path / "new" / "home"
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "home") == 0o700
    existing = tmp_path / "existing"
    existing.mkdir()
    existing.chmod(0o711)
    private.make_dirs(existing)
    assert mode(existing) == 0o711


def test_ensure_dir_refuses_an_existing_loose_folder(tmp_path: Path) -> None:
    # Protection: an existing folder is checked, never silently chmod'ed (someone may be in it).
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    with pytest.raises(private.UnsafeFile, match="chmod 700"):
        private.ensure_dir(loose)


def test_write_replaces_the_file_by_rename_so_readers_see_old_or_new(folder: Path) -> None:
    # Protection: atomic write (temporary file + rename). A reader that opened the old file keeps
    # reading all of the old text; writing in place would have truncated it under the reader.
    token = folder / "token"
    private.write(token, "old-token-" * 20)
    before = os.stat(token).st_ino
    with open(token, encoding="utf-8") as reader:
        private.write(token, "new")
        assert reader.read() == "old-token-" * 20
    assert os.stat(token).st_ino != before
    assert private.read(token) == "new"
    assert sorted(p.name for p in folder.iterdir()) == ["token"]  # no temporary file left


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Protection: the rename is the only step that touches the real name.
    private.write(folder / "token", "old")

    def broken_replace(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(private.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        private.write(folder / "token", "new")
    monkeypatch.undo()
    assert private.read(folder / "token") == "old"
    assert sorted(p.name for p in folder.iterdir()) == ["token"]


def test_write_replaces_a_planted_symlink_without_writing_through_it(folder: Path, tmp_path: Path) -> None:
    # Protection: rename() replaces the link itself; the file it pointed at is untouched.
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (folder / "token").symlink_to(victim)
    private.write(folder / "token", "t0ken")
    assert victim.read_text() == "keep me"
    assert not (folder / "token").is_symlink()
    assert private.read(folder / "token") == "t0ken"


def test_create_keeps_the_file_that_is_there(folder: Path) -> None:
    # Protection: write-if-absent for a generated secret; a second maker reads the first one's.
    assert private.create(folder / "secret", "first") is True
    assert private.create(folder / "secret", "second") is False
    assert private.read(folder / "secret") == "first"
    assert mode(folder / "secret") == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["secret"]  # no temporary file left


def test_creators_racing_agree_on_one_file(folder: Path) -> None:
    # Protection: link() is atomic: of many commands making the secret at once, exactly one
    # wins, and the file holds the winner's text, whole.
    barrier = threading.Barrier(8)
    outcomes: dict[str, bool] = {}

    def make(text: str) -> None:
        barrier.wait()
        outcomes[text] = private.create(folder / "secret", text)

    workers = [threading.Thread(target=make, args=(f"secret-{n}-" * 50,)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(BOUND_S)
    winners = [text for text, made in outcomes.items() if made]
    assert len(outcomes) == 8 and len(winners) == 1
    assert private.read(folder / "secret") == winners[0]


def test_remove_deletes_a_symlink_not_its_target(folder: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (folder / "token").symlink_to(victim)
    assert private.remove(folder / "token") is True
    assert victim.read_text() == "keep me"
    assert private.remove(folder / "token") is False
    assert private.remove(tmp_path / "no" / "folder" / "token") is False


# -- the generated JWT secret gets the same checks ---------------------------------------


def embedded_dev(home: Path) -> Settings:
    """`--env dev` with no DATABASE_URL and no JWT_SECRET: the embedded mode, whose secret is
    generated into EVENTREG_HOME/private/jwt_secret. secret() starts no server."""
    return Settings(env="dev", home=home, values={})


def test_generated_secret_is_made_once_0600_in_a_0700_home(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0o022)
    settings = embedded_dev(tmp_path / "home")
    assert settings.embedded
    first = settings.secret()
    assert len(first.encode()) >= 32
    assert embedded_dev(tmp_path / "home").secret() == first  # the next command reads the same one
    assert mode(tmp_path / "home") == 0o700
    assert mode(settings.private) == 0o700
    assert mode(settings.private / "jwt_secret") == 0o600
    assert not (tmp_path / "home" / "pgdata").exists()  # no server was started for it


def test_generated_secret_behind_a_symlink_is_refused(tmp_path: Path) -> None:
    # Protection: whoever plants a link to a secret they know could sign tokens for any user.
    settings = embedded_dev(tmp_path / "home")
    private.ensure_dir(settings.private)
    known = tmp_path / "known"
    known.write_text(KNOWN_SECRET)
    known.chmod(0o600)
    (settings.private / "jwt_secret").symlink_to(known)
    with pytest.raises(private.UnsafeFile, match="symbolic link"):
        settings.secret()


def test_generated_secret_as_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    settings = embedded_dev(tmp_path / "home")
    fifo = private.ensure_dir(settings.private) / "jwt_secret"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(private.UnsafeFile, match="FIFO"):
        bounded(settings.secret, unblock=open_writer(fifo))


def test_readable_generated_secret_is_refused_with_the_fix(tmp_path: Path) -> None:
    settings = embedded_dev(tmp_path / "home")
    settings.secret()
    (settings.private / "jwt_secret").chmod(0o644)
    settings = embedded_dev(tmp_path / "home")  # the next command (a running one keeps what it read)
    with pytest.raises(private.UnsafeFile, match=f"chmod 600 {settings.private / 'jwt_secret'}"):
        settings.secret()


@needs_root
def test_generated_secret_of_another_user_is_refused(tmp_path: Path) -> None:
    settings = embedded_dev(tmp_path / "home")
    path = private.ensure_dir(settings.private) / "jwt_secret"
    path.write_text(KNOWN_SECRET)
    path.chmod(0o600)
    os.chown(path, *nobody())
    with pytest.raises(private.UnsafeFile, match="belongs to nobody"):
        settings.secret()


def test_generated_secret_in_a_loose_private_folder_is_refused(tmp_path: Path) -> None:
    embedded_dev(tmp_path / "home").secret()
    settings = embedded_dev(tmp_path / "home")
    settings.private.chmod(0o750)
    with pytest.raises(private.UnsafeFile, match=f"chmod 700 {settings.private}"):
        settings.secret()
