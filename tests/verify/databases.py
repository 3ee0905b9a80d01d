"""Real MariaDB and PostgreSQL servers for the SQL tests, from the unstable system root.

Each runs in a private mount namespace with the root's /etc and /usr
(migrate.verify.system), its data and its socket in the test's own
directory — under ``ROOT/run/mariadbd`` or ``ROOT/run/postgresql`` of the
server copy verify is given, where a configuration's
``/run/mariadbd/mysqld.sock`` is then read from. No TCP port is opened and
nothing of the host's is used; the server stops when the test ends.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migrate.verify.system import inside


def _ids(system: Path, user: str) -> tuple[int, int]:
    for line in (system / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise LookupError(f"no {user} in {system}/etc/passwd")


def _wait(socket: Path, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not socket.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the database server did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)


def _run(system: Path, argv: list[str], stdin: str = "") -> None:
    done = subprocess.run(inside(system, argv), input=stdin, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr[-2000:]}")


@contextmanager
def mariadb(
    system: Path, work: Path, root: Path, script: str, database: str = "mail", links: tuple[str, ...] = ()
) -> Iterator[Path]:
    """MariaDB with database ``mail`` loaded from ``script``, on ``root/run/mariadbd/mysqld.sock``.

    That is where Debian's client library looks (its /etc/mysql/mariadb.cnf), so
    table-mysql's ``host localhost`` reaches it through the harness's /run.
    ``links``: other socket paths under ``root`` a configuration names (``var/run/mysqld/mysqld.sock``).
    """
    data, run = work / "mariadb", root / "run" / "mariadbd"
    data.mkdir(parents=True)
    run.mkdir(parents=True)
    run.chmod(0o755)
    _run(system, ["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={data}", "--skip-test-db"])
    socket, log = run / "mysqld.sock", work / "mariadb.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            inside(
                system,
                [
                    "mariadbd",
                    "--no-defaults",
                    "--user=root",
                    f"--datadir={data}",
                    f"--socket={socket}",
                    f"--pid-file={work / 'mariadb.pid'}",
                    "--skip-networking",
                    "--skip-grant-tables",  # any user and password: the test is about the queries
                    "--skip-log-bin",
                ],
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(socket, server, log)
        _run(system, ["mariadb", "--no-defaults", f"--socket={socket}", "-e", f"CREATE DATABASE {database}"])
        _run(system, ["mariadb", "--no-defaults", f"--socket={socket}", database], script)
        socket.chmod(0o777)
        for link in links:
            (root / link).parent.mkdir(parents=True, exist_ok=True)
            (root / link).symlink_to(socket)
        yield socket
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def postgresql(system: Path, work: Path, root: Path, script: str, user: str = "exim") -> Iterator[Path]:
    """PostgreSQL with database ``mail`` loaded from ``script``, its socket in ``root/run/postgresql``.

    ``user`` may read every table (local connections are trusted: any password).
    """
    binaries = sorted((system / "usr/lib/postgresql").glob("*/bin"))[-1]
    uid, gid = _ids(system, "postgres")
    data, run = work / "pgdata", root / "run" / "postgresql"
    for directory in (data, run):
        directory.mkdir(parents=True)
        os.chown(directory, uid, gid)
    run.chmod(0o755)
    as_postgres = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    initdb = [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]
    _run(system, [*as_postgres, *initdb])
    log = work / "postgresql.log"
    settings = ["-c", "listen_addresses=", "-c", "fsync=off", "-k", str(run)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            inside(system, [*as_postgres, str(binaries / "postgres"), "-D", str(data), *settings]),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(run / ".s.PGSQL.5432", server, log)
        psql = [*as_postgres, str(binaries / "psql"), "-h", str(run), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
        _run(system, [*psql, "-d", "postgres", "-c", "CREATE DATABASE mail"])
        _run(system, [*psql, "-d", "postgres", "-c", f"CREATE ROLE {user} LOGIN"])
        _run(system, [*psql, "-d", "mail"], script)
        _run(system, [*psql, "-d", "mail", "-c", f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {user}"])
        yield run
    finally:
        server.terminate()
        server.wait(timeout=30)
