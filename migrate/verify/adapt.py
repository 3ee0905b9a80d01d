"""Make a generated smtpd.conf runnable by Debian's smtpd here, adapting only what the host needs.

The generated file targets OpenBSD 7.9 (or portable OpenSMTPD); the tests run
Debian's 6.8 on Linux. Differences are handled here, never by weakening the
output (OpenSMTPD 6.8 versus 7.x, smtpd.conf(5)):

- files the config names (aliases, table files) and the TLS certificate and
  key are replaced by throw-away copies, so the check does not depend on the
  test machine's /etc;
- ``listen on all`` (an OpenBSD interface group) becomes ``listen on lo``;
- a table written over several lines (7.5+) is joined onto one line.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from migrate.verify.system import chosen, inside


def throwaway_pki(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key with the ownership and modes smtpd demands."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    if not cert.exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                "/CN=exim2smtpd-test",
                "-days",
                "2",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        key.chmod(0o600)
        cert.chmod(0o644)
    return cert, key


def adapt(
    text: str,
    workdir: Path,
    root: Path | None = None,
    files: dict[str, str] | None = None,
    join_tables: bool = True,
) -> str:
    """The same configuration, runnable by Debian's smtpd 6.8 on this machine (7.x: ``join_tables=False``).

    Table files are copied from under ``root`` when given and present there
    (so aliases resolve as on the real server), else replaced by empty files.
    """
    cert, key = throwaway_pki(workdir)
    counter = 0

    def relocate(match: re.Match[str]) -> str:
        nonlocal counter
        counter += 1
        path = workdir / f"table{counter}"
        original = Path(str(root) + match.group(1)) if root is not None else None
        generated = (files or {}).get(Path(match.group(1)).name)
        if generated is not None:  # a table file convert wrote beside smtpd.conf
            path.write_text(generated, errors="surrogateescape")
        else:
            path.write_text(
                original.read_text(errors="surrogateescape") if original is not None and original.is_file() else "",
                errors="surrogateescape",
            )
        path.chmod(0o600)  # a credentials table's hashes: smtpd reads its tables as root
        return f'"file:{path}"'

    def relocate_backend(match: re.Match[str]) -> str:
        """An SQL backend's configuration: convert's copy, its database file under ``root``."""
        nonlocal counter
        counter += 1
        path = workdir / f"table{counter}.conf"
        config = (files or {}).get(Path(match.group(2)).name, "")
        if root is not None:
            config = re.sub(r"^dbpath (/.*)$", lambda m: f"dbpath {root}{m.group(1)}", config, flags=re.M)
        path.write_text(config, errors="surrogateescape")
        return f'"{match.group(1)}:{path}"'

    text = re.sub(r'"file:([^"]+)"', relocate, text)
    text = re.sub(r'"(sqlite|mysql|postgres):([^"]+)"', relocate_backend, text)
    text = re.sub(r'^(pki "[^"]+" cert )"[^"]+"', lambda m: f'{m.group(1)}"{cert}"', text, flags=re.M)
    text = re.sub(r'^(pki "[^"]+" key )"[^"]+"', lambda m: f'{m.group(1)}"{key}"', text, flags=re.M)
    text = re.sub(r"^listen on all ", "listen on lo ", text, flags=re.M)
    if join_tables:  # 6.8 reads a table on one line only
        text = re.sub(r"\{\n((?:\t.*\n)+)\}", lambda m: "{ " + " ".join(m.group(1).split()) + " }", text)
    return text


def check(
    text: str,
    workdir: Path,
    files: dict[str, str] | None = None,
    system: Path | None = None,
    join_tables: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``smtpd -n -f`` on the adapted text (with the table files convert wrote); return the result.

    With ``system``, the smtpd of that system root (``migrate.verify.system``) checks it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "smtpd.conf"
    conf.write_text(adapt(text, workdir, files=files, join_tables=join_tables), errors="surrogateescape")
    return subprocess.run(
        inside(chosen(system), ["smtpd", "-n", "-f", str(conf)]),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
    )
