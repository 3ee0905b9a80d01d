"""The report's services, held against what the real smtpd decides.

For each fixture, each service the report says is kept or lost is probed on a
real smtpd running the written configuration (the verify machinery: private
namespaces, loopback): a kept service must be accepted at RCPT, a lost one
refused. Services smtpd decides after RCPT (content filtering, DKIM signing,
alias expansion) or over TLS (AUTH: Debian 12's smtpd 6.8 cannot complete
inbound TLS) are checked from the written files by tests/report/test_honesty.py.
"""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import pytest

from migrate.commands.convert import Result
from migrate.verify import smtpd_side
from migrate.verify.cases import OUTSIDE_V4, UNKNOWN_DOMAIN, Case
from tests.report.test_honesty import CASES, _convert

# Their tables are served by MySQL and sqlite backends with no database here
# (tests/verify/test_verify.py runs the sqlite backend against a real database).
DATABASE_BACKED = {"secrets", "sql-lookups", "sql-hosting", "sql-virtual"}


def _local_domain(result: Result) -> str | None:
    for name in ("local_domains", "virtual_domains"):
        table = result.policy.table(name)
        for entry in table.entries if table else ():
            if "*" not in entry and entry != "localhost":
                return entry
    named = result.config.named_lists.get("local_domains")
    literal = [i.value for i in named.items if i.kind == "literal" and not i.negated] if named else []
    return literal[0] if literal else None


def _inside(result: Result, table: str | None) -> str | None:
    """An address of a trusted network that is not loopback (loopback counts as local to smtpd)."""
    found = result.policy.table(table) if table else None
    for entry in found.entries if found else ():
        network = ipaddress.ip_network(entry, strict=False)
        if network.version == 4 and not network.is_loopback:
            return str(next(network.hosts()) if network.num_addresses > 1 else network.network_address)
    return None


def _inbound(result: Result, domain: str, root: Path | None) -> str:
    """An address exim delivered or forwarded: a virtual alias, else root (or the aliases file's first key)."""
    forward_only = any(a.method == "forward-only" for a in result.policy.actions)
    virtual = result.files.get("virtual_aliases", "") if forward_only else ""
    keys = [line.split()[0] for line in virtual.splitlines() if "@" in line.split(" ", 1)[0]]
    if keys:
        return keys[0]
    aliases = result.policy.table("aliases")
    path = Path(str(root) + aliases.file) if aliases and aliases.file and root else None
    if path is not None and path.is_file():
        names = [line.split(":", 1)[0].strip() for line in path.read_text().splitlines() if ":" in line]
        names = [n for n in names if n and not n.startswith("#")]
        if names and "root" not in names:
            return f"{names[0]}@{domain}"
    return f"root@{domain}"


def _probes(result: Result, root: Path | None = None) -> list[tuple[str, bool, list[Case]]]:
    """(service, kept, cases): the service is kept iff smtpd accepts any of its cases."""
    domain = _local_domain(result)
    probes = []
    for state in result.report.services:
        name = state.service.name
        if name == "inbound" and domain:
            cases = [Case(OUTSIDE_V4[0], _inbound(result, domain, root), "anyone", "local-domains")]
        elif name == "relay":
            address = _inside(result, state.service.table)
            if address is None:
                continue
            cases = [Case(address, f"someone@{UNKNOWN_DOMAIN}", str(state.service.table), "other-domains")]
        elif name == "sendmail":  # kept only if every recipient class exim delivered still is
            cases = [
                Case("socket", f"someone@{UNKNOWN_DOMAIN}", "local", r)
                for r in state.service.recipients
                if r == "other-domains"
            ]
            cases += [
                Case("socket", _inbound(result, domain, root), "local", r)
                for r in state.service.recipients
                if r == "local-domains" and domain
            ]
        elif name == "outbound":
            cases = [Case("socket", f"someone@{UNKNOWN_DOMAIN}", "local", "other-domains")]
        else:
            continue
        probes.append((name, state.kept, cases))
    return probes


@pytest.mark.parametrize("case", [c for c in CASES if c not in DATABASE_BACKED])
def test_services_match_what_the_real_smtpd_decides(case: str, smtpd: str, namespaces: None) -> None:
    result = _convert(case)
    root = Path(f"fixtures/{case}/root").resolve()
    probes = _probes(result, root if root.is_dir() else None)
    cases = [c for _, _, found in probes for c in found]
    if not cases:
        pytest.fail(f"{case}: no service could be probed")  # every fixture provides one at least
    with tempfile.TemporaryDirectory(prefix="exim2smtpd-services-") as work:
        Path(work).chmod(0o755)  # the filter stand-ins run as smtpd's own user
        answers = smtpd_side.ask(
            smtpd, result.files["smtpd.conf"], cases, Path(work), root if root.is_dir() else None, result.files
        )
    for name, kept, found in probes:
        accepted = [c for c in found if answers[c].code is not None and 200 <= answers[c].code < 300]
        said = {c.recipient: (answers[c].code, answers[c].text) for c in found}
        held = len(accepted) == len(found) if name == "sendmail" else bool(accepted)
        assert held == kept, f"{case}: the report says {name} is {'kept' if kept else 'lost'}; smtpd: {said}"
