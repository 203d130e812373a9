"""What differs between the operating systems the agent runs on: keeping the
state directory, the encrypted key and the credential private to the account the
agent runs as, and the signals that ask it to stop. Nothing else in the agent
may call an OS-specific function.

POSIX (Linux, macOS): mode 0700 for the folder and 0600 for the files, set on
the open descriptor so the umask cannot widen it; a file others can read is
refused.

Windows: mode bits mean nothing there (only a read-only flag), so the file's
access control list is replaced with `icacls` (part of every Windows since
Server 2003): `/inheritance:r` removes the entries inherited from the folder
(C:\\ProgramData lets every user read), `/grant:r` leaves one entry, full
control for the account the agent runs as (`whoami`). A file whose list grants
anyone else is refused, except NT AUTHORITY\\SYSTEM and BUILTIN\\Administrators,
which can read every file on the machine anyway.
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

# Principals that hold the whole machine: an entry for them does not widen who can read.
WINDOWS_MACHINE_PRINCIPALS = frozenset({"nt authority\\system", "builtin\\administrators"})


class NotPrivate(Exception):
    """A secret file that others can read, or that could not be made private; the message says what to run."""


class Posix:
    name = "posix"

    def write_private(self, path: Path, data: bytes) -> None:
        """Write a file readable by its owner only, replacing any old one atomically."""
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask cannot widen it
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)

    def make_private_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)

    def check_private(self, path: Path) -> None:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise NotPrivate(f"{path} can be read by other users (mode {mode:o}); run: chmod 600 {path}")

    def stop_signals(self) -> list[int]:
        return [signal.SIGTERM, signal.SIGINT]


class Windows:
    name = "windows"

    def __init__(self, icacls: str = "icacls", whoami: str = "whoami"):
        self.icacls = icacls
        self.whoami = whoami
        self._account: str | None = None

    def _run(self, *args: str) -> str:
        try:
            result = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise NotPrivate(f"{args[0]} was not found; the agent uses it to protect its key and credential "
                             r"(it is in C:\Windows\System32, which must be on PATH)") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise NotPrivate(f"{' '.join(args[:2])} failed: {detail[0] if detail else f'exit code {result.returncode}'}")
        return result.stdout

    @property
    def account(self) -> str:
        """The account the agent runs as, as icacls names it (DOMAIN\\user, or NT AUTHORITY\\SYSTEM for a service)."""
        if self._account is None:
            self._account = self._run(self.whoami).strip()
        return self._account

    def _restrict(self, path: Path, permission: str) -> None:
        self._run(self.icacls, str(path), "/inheritance:r", "/grant:r", f"{self.account}:{permission}")

    def write_private(self, path: Path, data: bytes) -> None:
        # The list is replaced before the secret is written; a rename within a volume keeps it.
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "wb") as handle:
            pass
        self._restrict(temporary, "F")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def make_private_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._restrict(path, "(OI)(CI)F")  # (OI)(CI): files and folders made inside inherit the one entry

    def check_private(self, path: Path) -> None:
        own = {self.account.lower()} | WINDOWS_MACHINE_PRINCIPALS
        others = [f"{who}:{rights}" for who, rights in access_entries(self._run(self.icacls, str(path)), path)
                  if who.lower() not in own]
        if others:
            removals = " ".join(f'/remove:g "{entry.split(":")[0]}"' for entry in others)
            raise NotPrivate(f"{path} can be read by other users ({', '.join(others)}); run: "
                             f'icacls "{path}" /inheritance:r /grant:r "{self.account}:F" {removals}')

    def stop_signals(self) -> list[int]:
        # A service wrapper (NSSM) or the console sends Ctrl+C, or Ctrl+Break to a process group.
        return [signal.SIGTERM, signal.SIGINT] + ([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])


def access_entries(listing: str, path: Path) -> list[tuple[str, str]]:
    """(principal, rights) of each entry in `icacls PATH` output:

        C:\\state\\agent-key.pem CONTOSO\\svc-causeway:(F)
                                BUILTIN\\Users:(I)(RX)

        Successfully processed 1 files; Failed processing 0 files
    """
    entries = []
    for number, line in enumerate(listing.splitlines()):
        if number == 0 and line.startswith(str(path)):
            line = line[len(str(path)):]
        principal, marker, rights = line.strip().rpartition(":(")
        if marker and principal:
            entries.append((principal, "(" + rights))
    return entries


current: Posix | Windows = Windows() if os.name == "nt" else Posix()
