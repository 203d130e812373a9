"""Real PostgreSQL and Mosquitto servers for the test suite, on loopback.

Dependency-free (stdlib only; psycopg is imported lazily for the database
helpers).  Both servers run on free 127.0.0.1 ports in private temp dirs, so
they never depend on (or clash with) any packaged service on 5432/1883.

If a binary is missing, run ``scripts/ensure-test-servers.sh`` (as root it
installs the Debian packages ``postgresql`` and ``mosquitto``).

Running as root (CI):
  * PostgreSQL refuses to run as root, so ``initdb``/``pg_ctl`` are run as the
    ``postgres`` user via ``runuser -u postgres --`` and the temp dir (created
    under the world-traversable ``/tmp``) is chowned to that user.
  * Mosquitto would drop privileges to the ``mosquitto`` user; the config sets
    ``user root`` instead so it keeps read/write access to our root-owned 0600
    config, password, ACL and persistence files (see MosquittoServer).

Usage::

    with PostgresServer() as pg:
        url = pg.create_database("causeway_test")   # SQLAlchemy URL
        ...
    with MosquittoServer(password_file=pw, acl_file=acl) as broker:
        client.connect("127.0.0.1", broker.port)
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = [
    "ServerBinaryMissing",
    "ServerStartError",
    "free_port",
    "wait_for_port",
    "find_pg_bindir",
    "find_mosquitto",
    "find_mosquitto_passwd",
    "PostgresServer",
    "MosquittoServer",
]

HOST = "127.0.0.1"
_HINT = "run scripts/ensure-test-servers.sh (as root it installs the Debian packages)"


class ServerBinaryMissing(RuntimeError):
    """A server binary needed by the tests is not installed."""


class ServerStartError(RuntimeError):
    """A server failed to start; the message includes the tail of its log."""


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, host: str = HOST, timeout: float = 10.0, proc=None) -> None:
    """Wait until host:port accepts TCP connections.

    Raises ServerStartError on timeout, or early if ``proc`` (a Popen) exits.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(f"process exited with code {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ServerStartError(f"nothing listening on {host}:{port} after {timeout}s")
        time.sleep(0.05)


def _is_root() -> bool:
    return os.geteuid() == 0


def _tail(path: str, n: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def _version_key(path: str):
    # /usr/lib/postgresql/15/bin -> (15,) ; 9.6 -> (9, 6)
    ver = path.rstrip("/").split("/")[-2]
    return tuple(int(x) for x in re.findall(r"\d+", ver)) or (0,)


def find_pg_bindir() -> str:
    """Newest /usr/lib/postgresql/*/bin with initdb and pg_ctl (or $PG_BINDIR)."""
    candidates = []
    env = os.environ.get("PG_BINDIR")
    if env:
        candidates.append(env)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for d in candidates:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    # Non-Debian layouts: initdb on PATH.
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return os.path.dirname(initdb)
    raise ServerBinaryMissing(f"PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin; {_HINT}")


def _which_sbin(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)),
        None,
    )


def find_mosquitto() -> str:
    path = _which_sbin("mosquitto")
    if not path:
        raise ServerBinaryMissing(f"mosquitto not found; {_HINT}")
    return path


def find_mosquitto_passwd() -> str:
    path = _which_sbin("mosquitto_passwd")
    if not path:
        raise ServerBinaryMissing(f"mosquitto_passwd not found; {_HINT}")
    return path


# ---------------------------------------------------------------- PostgreSQL


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port>.

    ``start()`` takes about 1-3 s (initdb dominates).  Authentication is
    ``trust`` for user ``postgres``; durability is switched off for speed.
    """

    def __init__(self, port: int | None = None, start_timeout: int = 60):
        self._requested_port = port
        self.port: int | None = port
        self.start_timeout = start_timeout
        self.tmpdir: str | None = None
        self.datadir: str | None = None
        self.logfile: str | None = None
        self.bindir: str | None = None
        self.server_version_num: int | None = None
        self._running = False

    # -- plumbing

    def _cmd(self, *args: str) -> list[str]:
        if _is_root():
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        timeout = timeout or self.start_timeout
        # cwd: the postgres user may not be able to enter the caller's cwd (/root).
        return subprocess.run(
            self._cmd(*args),
            cwd=self.tmpdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )

    def _pg_ctl(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return self._run(os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, *args, timeout=timeout)

    # -- lifecycle

    def start(self) -> "PostgresServer":
        if self._running:
            return self
        self.bindir = find_pg_bindir()
        if _is_root():
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerBinaryMissing(f"running as root but there is no 'postgres' user; {_HINT}") from None
            if not shutil.which("runuser"):
                raise ServerBinaryMissing("running as root but 'runuser' (util-linux) is missing")
        # /tmp is world-traversable, so the postgres user can reach the dir
        # even when TMPDIR points somewhere private.
        self.tmpdir = tempfile.mkdtemp(prefix="causeway-pg-", dir="/tmp")
        os.chmod(self.tmpdir, 0o755)
        if _is_root():
            os.chown(self.tmpdir, pw.pw_uid, pw.pw_gid)
        self.datadir = os.path.join(self.tmpdir, "data")
        self.logfile = os.path.join(self.tmpdir, "postgres.log")
        try:
            self._initdb()
            self._start_server()
        except BaseException:
            self._cleanup()
            raise
        atexit.register(self.stop)
        return self

    def _initdb(self) -> None:
        res = self._run(
            os.path.join(self.bindir, "initdb"),
            "-D", self.datadir,
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # skip fsync of the new cluster: much faster
        )
        if res.returncode != 0:
            raise ServerStartError(f"initdb failed (exit {res.returncode}):\n{res.stdout}")
        with open(os.path.join(self.datadir, "PG_VERSION")) as f:
            major = int(f.read().strip().split(".")[0])
        self.server_version_num = major * 10000
        # Appended settings override the defaults written by initdb.  The
        # port is passed on the pg_ctl command line so retries can change it.
        conf = "\n".join([
            "",
            "# --- causeway test settings ---",
            f"listen_addresses = '{HOST}'",
            f"unix_socket_directories = '{self.tmpdir}'",
            "max_connections = 200",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "logging_collector = off",
            "",
        ])
        # The file is owned by postgres when we are root; root can still write it.
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write(conf)

    def _start_server(self) -> None:
        # Retry with a new port if an auto-chosen one got taken in the meantime.
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            self.port = self._requested_port or free_port()
            res = self._pg_ctl(
                "start", "-w", "-t", str(self.start_timeout),
                "-l", self.logfile,
                "-o", f"-p {self.port}",
                timeout=self.start_timeout + 10,
            )
            if res.returncode == 0:
                self._running = True
                return
            log = _tail(self.logfile)
            if "could not bind" in log or "Address already in use" in log:
                if attempt + 1 < attempts:
                    continue
            raise ServerStartError(f"pg_ctl start failed (exit {res.returncode}):\n{res.stdout}\n--- log ---\n{log}")

    def stop(self) -> None:
        atexit.unregister(self.stop)
        if self._running:
            self._running = False
            try:
                res = self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30", timeout=40)
                if res.returncode != 0:
                    self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "10", timeout=20)
            except subprocess.TimeoutExpired:
                self._kill_postmaster()
        self._cleanup()

    def _kill_postmaster(self) -> None:
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                os.kill(int(f.readline().strip()), signal.SIGQUIT)
        except (OSError, ValueError):
            pass

    def _cleanup(self) -> None:
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- URLs and databases

    @property
    def running(self) -> bool:
        return self._running

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` maintenance database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{name}"

    def dsn(self, name: str = "postgres") -> str:
        """libpq connection string (for psycopg.connect)."""
        return f"host={HOST} port={self.port} user=postgres dbname={name} connect_timeout=10 sslmode=disable"

    def connect(self, name: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(self.dsn(name), **kwargs)

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE name [TEMPLATE template]; return its SQLAlchemy URL."""
        from psycopg import sql

        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = stmt + sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect(autocommit=True) as conn:
            conn.execute(stmt)
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop the database (if it exists), terminating its connections first."""
        from psycopg import sql

        with self.connect(autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
            if (self.server_version_num or 0) >= 130000:
                drop = drop + sql.SQL(" WITH (FORCE)")
            conn.execute(drop)


# ---------------------------------------------------------------- Mosquitto


class MosquittoServer:
    """A mosquitto broker on 127.0.0.1:<port> with its own config.

    ``password_file`` / ``acl_file`` are *copied* into the server's private
    temp dir with mode 0600, owned by the running user.  Recent mosquitto
    versions (2.0.16+) warn about - and announce they will refuse - password
    and ACL files that are world-readable or not owned by the user mosquitto
    runs as; copying sidesteps that whatever the caller's file looks like.
    Call ``reload()`` after editing the originals (re-copies them, SIGHUP).

    Persistence is on (``persistence_dir`` or a dir inside the temp dir), so
    QoS 1 messages queued for persistent sessions survive ``restart()``.
    """

    def __init__(
        self,
        port: int | None = None,
        password_file: str | None = None,
        acl_file: str | None = None,
        persistence_dir: str | None = None,
        start_timeout: float = 10.0,
        packaged: bool = False,
    ):
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.password_file = password_file
        self.acl_file = acl_file
        self.start_timeout = start_timeout
        # packaged: run as the Debian package does: started as root, the broker drops to
        # the `mosquitto` user before reading the password and ACL files, which are used
        # where they are (not copied), so they must be readable by that user.
        self.packaged = packaged
        self.tmpdir = tempfile.mkdtemp(prefix="causeway-mqtt-")
        os.chmod(self.tmpdir, 0o711 if packaged else 0o700)
        self.persistence_dir = persistence_dir or os.path.join(self.tmpdir, "persist")
        os.makedirs(self.persistence_dir, mode=0o700, exist_ok=True)
        if packaged:
            import pwd

            account = pwd.getpwnam("mosquitto")
            os.chown(self.persistence_dir, account.pw_uid, account.pw_gid)
        self.conf_path = os.path.join(self.tmpdir, "mosquitto.conf")
        self.logfile = os.path.join(self.tmpdir, "mosquitto.log")
        self.proc: subprocess.Popen | None = None
        self._started_once = False

    @property
    def host(self) -> str:
        return HOST

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _private_copy(self, src: str, name: str) -> str:
        dst = os.path.join(self.tmpdir, name)
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o600)
        return dst

    def _write_config(self) -> None:
        lines = [
            "# generated by tests/servers.py",
            f"listener {self.port} {HOST}",
            f"allow_anonymous {'false' if self.password_file else 'true'}",
            "persistence true",
            # must end with a slash: it is a prefix, not a directory name
            f"persistence_location {self.persistence_dir.rstrip('/')}/",
            "persistence_file mosquitto.db",
            "autosave_interval 1",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
            "set_tcp_nodelay true",
        ]
        if _is_root() and not self.packaged:
            # As root mosquitto would switch to user 'mosquitto', which cannot
            # read our root-owned 0600 files nor write the persistence dir
            # (and may not exist if only mosquitto's binary is present).
            # The broker only listens on loopback in a test, so keep root.
            lines.append("user root")
        if self.password_file:
            used = self.password_file if self.packaged else self._private_copy(self.password_file, 'passwd')
            lines.append(f"password_file {used}")
        if self.acl_file:
            used = self.acl_file if self.packaged else self._private_copy(self.acl_file, 'acl')
            lines.append(f"acl_file {used}")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.conf_path, 0o600)

    def start(self) -> "MosquittoServer":
        if self.running:
            return self
        binary = find_mosquitto()
        # Retry with a new port only if ours was auto-chosen and never used
        # (after the first start the port must stay stable for restart()).
        attempts = 1 if (self._fixed_port or self._started_once) else 3
        for attempt in range(attempts):
            self._write_config()
            log = open(self.logfile, "ab")
            try:
                self.proc = subprocess.Popen(
                    [binary, "-c", self.conf_path],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.tmpdir,
                    start_new_session=True,  # no terminal signals from pytest's ^C
                )
            finally:
                log.close()
            try:
                wait_for_port(self.port, timeout=self.start_timeout, proc=self.proc)
            except ServerStartError as e:
                self._terminate()
                tail = _tail(self.logfile)
                if attempt + 1 < attempts and ("in use" in tail or "Address already" in tail):
                    self.port = free_port()
                    continue
                raise ServerStartError(f"mosquitto failed to start on {HOST}:{self.port}: {e}\n--- log ---\n{tail}") from None
            self._started_once = True
            atexit.register(self.close)
            return self
        raise AssertionError("unreachable")

    def _terminate(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # SIGTERM saves the persistence db
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def stop(self) -> None:
        """Stop the broker (SIGTERM, wait).  Files stay for restart()."""
        self._terminate()

    def restart(self) -> "MosquittoServer":
        """Stop, then start again on the same port with the same persistence."""
        self.stop()
        return self.start()

    def reload(self) -> None:
        """Re-copy password/ACL files and send SIGHUP so mosquitto re-reads them."""
        if self.password_file and not self.packaged:
            self._private_copy(self.password_file, "passwd")
        if self.acl_file and not self.packaged:
            self._private_copy(self.acl_file, "acl")
        if self.running:
            self.proc.send_signal(signal.SIGHUP)

    def close(self) -> None:
        """Stop and delete the temp dir."""
        atexit.unregister(self.close)
        self.stop()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def log(self) -> str:
        return _tail(self.logfile, 200) if self.tmpdir else ""

    def __enter__(self) -> "MosquittoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
