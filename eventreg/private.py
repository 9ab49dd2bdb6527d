"""Files only their owner may read: the session token fallback, the generated secret.

A private file lives in a private folder: a real folder (not a symlink) owned by
this user that nobody else may enter (no group or other bits, normally 0700). The
file itself must be a regular file owned by this user with no group or other bits
(normally 0600). Every check is made on what was actually opened: the folder is
opened once without following a symlink, and the file is looked up, opened and
replaced relative to that open folder, so nothing can be swapped in between.

- A symlink at the file or folder path is refused, never followed.
- A FIFO, socket or device at the path is refused before it is opened, so a planted
  FIFO can never make a command hang, and the open itself is non-blocking.
- Writing goes through a new 0600 temporary file in the same folder and a rename,
  so a reader sees the old text or the new one, never half of either.
- Folders this module creates (and any missing parent, such as EVENTREG_HOME on
  first use) are made 0700 whatever the umask.

Every refusal names the path and says how to fix it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from eventreg.errors import Unavailable

MAX_BYTES = 64 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


class UnsafeFile(Unavailable):
    """A private file or folder that others could read, replace or plant."""


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "something unknown"


def _check(info: os.stat_result, path: Path, folder: bool) -> None:
    """Refuse anything but this user's own folder (or regular file) that no one else may use."""
    wanted, mode = (0o700, "folder") if folder else (0o600, "file")
    is_right_kind = stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)
    if not is_right_kind:
        raise UnsafeFile(
            f"refusing to use {path}: it is {_kind(info.st_mode)}, not a {mode}; "
            f"something else was put there: remove it (rm {'-r ' if stat.S_ISDIR(info.st_mode) else ''}{path})"
        )
    if info.st_uid != os.getuid():
        raise UnsafeFile(
            f"refusing to use {path}: the {mode} belongs to {_user(info.st_uid)}, not to you "
            f"({_user(os.getuid())}); remove it (rm {'-r ' if folder else ''}{path}) and eventreg makes a new one"
        )
    bits = stat.S_IMODE(info.st_mode)
    if bits & 0o077:
        raise UnsafeFile(
            f"refusing to use {path}: its permissions are {bits:04o}, so other users may "
            f"{'enter' if folder else 'read'} it; it must be {wanted:04o} (run: chmod {wanted:o} {path})"
        )


@contextlib.contextmanager
def _opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _open_folder(path: Path) -> int:
    """An open descriptor on a checked private folder; FileNotFoundError when it does not exist."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            # Not followed, not opened: say what is there instead of a folder.
            try:
                info = os.lstat(path)
            except OSError:
                raise UnsafeFile(f"refusing to use {path}: a part of its path is not a folder") from None
            if stat.S_ISDIR(info.st_mode):  # ENOTDIR came from a parent, not from the folder
                raise UnsafeFile(f"refusing to use {path}: a part of its path is not a folder") from None
            _check(info, path, folder=True)
        raise UnsafeFile(f"refusing to use {path}: {exc.strerror}") from None
    try:
        _check(os.fstat(fd), path, folder=True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_dirs(path: Path) -> Path:
    """Create `path` and any missing parent, each exactly 0700 (the umask cannot loosen or
    break it); a folder that exists already is left as it is, unchecked. For EVENTREG_HOME,
    which the embedded server may later open to its system user (traverse bits under root):
    private folders inside it use `ensure_dir`, which also checks."""
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # made at the same moment by another command; the caller checks what is there
        except NotADirectoryError:
            raise UnsafeFile(f"refusing to use {folder}: a part of its path is not a folder") from None
        # mkdir's mode only loses bits to the umask; put back the owner's (a umask such as
        # 0277 would leave a folder we cannot write). Failing here leaves it stricter, never looser.
        with contextlib.suppress(OSError), _opened(os.open(folder, _DIR_FLAGS)) as fd:
            os.fchmod(fd, 0o700)
    return path


def ensure_dir(path: Path) -> Path:
    """Create a private folder (0700, and 0700 for any parent it has to make), or check an existing one."""
    make_dirs(path)
    os.close(_open_folder(path))
    return path


def read(path: Path) -> str | None:
    """The file's text, or None when there is no file (or no folder)."""
    try:
        folder = _open_folder(path.parent)
    except FileNotFoundError:
        return None
    with _opened(folder):
        try:
            seen = os.stat(path.name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return None
        # Checked before opening: a FIFO or device is never opened at all.
        _check(seen, path, folder=False)
        try:
            fd = os.open(path.name, _READ_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            return None  # removed in between, as by a logout in another terminal
        except OSError as exc:
            raise UnsafeFile(f"refusing to use {path}: {exc.strerror}") from None
        with _opened(fd):
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) != (seen.st_dev, seen.st_ino):
                raise UnsafeFile(f"refusing to use {path}: it was replaced while being opened; try again")
            _check(info, path, folder=False)
            data = _read_all(fd, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafeFile(f"refusing to use {path}: it is not UTF-8 text; remove it (rm {path})") from None


def _read_all(fd: int, path: Path) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := os.read(fd, MAX_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BYTES:
            raise UnsafeFile(f"refusing to use {path}: it is over {MAX_BYTES // 1024} KiB; remove it (rm {path})")
    return b"".join(chunks)


def write(path: Path, text: str) -> None:
    """Replace the file's text atomically: a new 0600 file in the same folder, then a rename."""
    _write(path, text, replace=True)


def create(path: Path, text: str) -> bool:
    """Write the file only when there is none, atomically like `write`; False when one exists,
    such as one another command made at the same moment: the caller then reads that one. (A
    read-then-write instead lets two commands each keep the secret they made.)"""
    return _write(path, text, replace=False)


def _write(path: Path, text: str, replace: bool) -> bool:
    make_dirs(path.parent)
    with _opened(_open_folder(path.parent)) as folder:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(os.stat(path.name, dir_fd=folder, follow_symlinks=False).st_mode):
                raise UnsafeFile(f"refusing to use {path}: it is a folder; remove it (rm -r {path})")
        tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, _CREATE_FLAGS, 0o600, dir_fd=folder)
        made = True
        try:
            with _opened(fd):
                os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
                data = text.encode("utf-8")
                while data:
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            if replace:
                # rename() replaces a planted symlink or FIFO itself; it never follows it.
                os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
            else:
                # link() puts the finished file in place only when the name is free.
                try:
                    os.link(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
                except FileExistsError:
                    made = False
                os.unlink(tmp, dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            raise
        with contextlib.suppress(OSError):
            os.fsync(folder)  # the new name itself survives a crash
    return made


def remove(path: Path) -> bool:
    """Remove the file (a symlink there is removed, not followed); False when there was none."""
    try:
        folder = _open_folder(path.parent)
    except FileNotFoundError:
        return False
    with _opened(folder):
        try:
            os.unlink(path.name, dir_fd=folder)
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise UnsafeFile(f"refusing to remove {path}: it is a folder; remove it yourself (rm -r {path})") from None
    return True
