"""Never more permissive than exim: what exim refuses, the generated rules refuse.

exim itself is the oracle. For every client class of the policy (the local
socket, each trusted network table, authenticated users, anyone) and every
recipient class (local, relay, other domains) we ask the real exim with
``-bh`` (an SMTP dialogue from a given address, optionally authenticated) or,
for the local socket, ``-bt`` (exim accepts locally submitted mail and only
routing can refuse it). Whenever exim answers 5xx, the smtpd match rules we
generated must refuse too. Where exim answers 2xx, they must accept (no mail
lost) unless the difference is one the report lists.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from migrate.commands.convert import Result, convert
from migrate.model import (
    ANY_DOMAIN,
    ANYONE,
    AUTHENTICATED,
    HOSTED_DOMAINS,
    LOCAL_CLIENT,
    LOCAL_DOMAINS,
    RELAY_DOMAINS,
    MatchRule,
    Policy,
)
from migrate.verify.oracle import dns_free_config
from tests.conftest import FIXTURES, Corpus, Exim

OUTSIDE = "198.18.0.77"  # benchmarking range: in no fixture's lists


@dataclass(frozen=True)
class Client:
    """A concrete client standing for a class."""

    klass: str
    address: str | None  # None: the local socket
    authenticated: bool = False
    port: int = 0  # the listener's port, where the policy keeps one per port (listener tags)


def clients(policy: Policy) -> list[Client]:
    """One client per class, on a port of each listener tag where the policy has them."""
    ports = sorted({min(li.port for li in policy.listeners if li.tag == tag) for tag in _tags(policy)})
    found = _classes(policy)
    if not ports:
        return found
    return [c for c in found if c.address is None] + [
        dataclasses.replace(c, port=port) for port in ports for c in found if c.address is not None
    ]


def _tags(policy: Policy) -> set[str]:
    return {li.tag for li in policy.listeners if li.tag}


def _classes(policy: Policy) -> list[Client]:
    found = []
    for client in policy.clients:
        if client.name == LOCAL_CLIENT:
            found.append(Client(LOCAL_CLIENT, None))
        elif client.name == AUTHENTICATED:
            found.append(Client(AUTHENTICATED, OUTSIDE, authenticated=True))
        elif client.name == ANYONE:
            found.append(Client(ANYONE, OUTSIDE))
        else:
            table = policy.table(client.table or "")
            if table and table.entries:
                first = ipaddress.ip_network(table.entries[0], strict=False)
                host = first.network_address if first.num_addresses == 1 else first.network_address + 1
                found.append(Client(client.name, str(host)))
    return found


def recipients(policy: Policy, config_lists: dict[str, list[str]]) -> dict[str, list[str]]:
    """Probe addresses per recipient class: exim may refuse a local part (no such
    user) without refusing the class, so a class is refused only if all are."""
    # a local part exim's usual "deny local_parts = ^.*[@%!/|]" refuses, judged on its own
    found = {ANY_DOMAIN: ["someone@elsewhere.example"], "odd local part": ["odd%path@elsewhere.example"]}
    local = [d for d in config_lists.get("local_domains", []) if _plain_domain(d) and d != "localhost"]
    if local:
        found[LOCAL_DOMAINS] = [f"postmaster@{local[0]}", f"root@{local[0]}"]
    relay = [d for d in config_lists.get("relay_to_domains", []) if _plain_domain(d)]
    if relay:
        found[RELAY_DOMAINS] = [f"someone@{relay[0]}", f"postmaster@{relay[0]}"]
    return found


def hosted_recipients(policy: Policy) -> list[str]:
    """Hosted-domain addresses, each judged on its own: listed ones, postmaster and an unknown one per domain."""
    domains = policy.table("hosted_domains")
    listed = policy.table("hosted_users")
    found = [key for key, _ in listed.mapping if not key.startswith("@")][:4] if listed else []
    for domain in [d for d in (domains.entries if domains else ()) if _plain_domain(d)][:2]:
        found += [f"postmaster@{domain}", f"no-such-user-4711@{domain}", f"odd%path@{domain}"]
        found.append(f"postmaster+tag4711@{domain}")  # smtpd strips "+tag" unless sub-addr-delim says not to
    return list(dict.fromkeys(found))


def _plain_domain(text: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", text.lower()))


def smtpd_accepts(policy: Policy, client: Client, address: str, depth: int = 0) -> bool:
    """First-match evaluation of the generated match rules (smtpd.conf(5) semantics)."""
    domain = address.rsplit("@", 1)[1].lower()
    tag = next((li.tag for li in policy.listeners if client.port and li.port == client.port), None)
    for rule in policy.rules:
        if rule.tag is not None and rule.tag != tag:
            continue  # for sessions on another port's listeners
        if _source(policy, rule.source, rule.source_table, client) == rule.negate_source:
            continue
        if _destination(policy, rule.destination, rule.destination_table, domain) == rule.negate_destination:
            continue
        if rule.rcpt_regex_table:  # POSIX ERE, in the subset Python's re reads alike
            regexes = policy.table(rule.rcpt_regex_table)
            if not regexes or not any(re.search(e, address) for e in regexes.entries):
                continue
        return rule.action is not None and _expands(policy, rule.action, address.lower(), depth)
    return False


def _expands(policy: Policy, action_name: str, address: str, depth: int) -> bool:
    """A hosted action's virtual table refuses an address none of its keys match (smtpd.conf(5), table(5)).

    An alias's addresses are matched again, as local mail; smtpd refuses the recipient if one of them fails.
    """
    action = next(a for a in policy.actions if a.name == action_name)
    if action.name != "hosted" or action.virtual_table is None:
        return True
    table = policy.table(action.virtual_table)
    values = dict(table.mapping) if table else {}
    value = next((values[k] for k in _virtual_keys(policy, address) if k in values), None)
    if value is None or value.startswith("error:") or depth > 5:
        return False
    targets = [t.strip() for t in value.split(",")]
    local = Client(LOCAL_CLIENT, None)
    return all("@" not in t or smtpd_accepts(policy, local, t, depth + 1) for t in targets)


def _virtual_keys(policy: Policy, address: str) -> list[str]:
    """The keys smtpd's aliases_virtual_get tries, in order: with and without the +tag, then the catch-alls."""
    user, domain = address.rsplit("@", 1)
    bare = user.split(policy.limits.sub_addr_delim or "+", 1)[0]
    return list(dict.fromkeys([f"{user}@{domain}", f"{bare}@{domain}", user, bare, f"@{domain}", "@"]))


def _destination(policy: Policy, destination: str, table_name: str | None, domain: str) -> bool:
    if destination == "domain":
        table = policy.table(table_name or "")
        return bool(table) and any(_domain_in(domain, e) for e in table.entries)  # type: ignore[union-attr]
    if destination == "local":
        return domain in ("localhost", (policy.identity.hostname or "").lower())
    return True


def _source(policy: Policy, source: str, table_name: str | None, client: Client) -> bool:
    if source == "any":
        return True
    if source == "socket":
        return client.address is None
    if source == "local":
        return client.address in (None, "127.0.0.1", "::1")
    if source == "auth":
        return client.authenticated
    table = policy.table(table_name or "")
    if client.address is None or table is None:
        return False
    ip = ipaddress.ip_address(client.address)
    return any(ip in ipaddress.ip_network(e, strict=False) for e in table.entries)


def _domain_in(domain: str, entry: str) -> bool:
    return domain == entry or (entry.startswith("*.") and domain.endswith(entry[1:]))


def exim_verdict(exim: Exim, config: Path, defines: dict[str, str], client: Client, rcpt: str) -> str:
    """'accept', 'refuse' or 'unsure' (4xx, or no answer) from the real exim."""
    if client.address is None:
        result = exim.run(config, "-bt", rcpt, defines=defines)
        if result.returncode == 2 and "router = " in result.stdout:
            return "accept"  # an alias some of whose targets fail: exim delivers the rest, bounces those copies
        return {0: "accept", 2: "refuse"}.get(result.returncode, "unsure")
    dialogue = f"EHLO probe.example\r\nMAIL FROM:<probe@probe.example>\r\nRCPT TO:<{rcpt}>\r\nQUIT\r\n"
    args = ["-bh", client.address]
    if client.port:
        args += ["-oMi", f"127.0.0.1.{client.port}"]
    if client.authenticated:
        args += ["-oMaa", "PLAIN", "-oMai", "alice"]
    import subprocess

    cmd = [str(exim.binary), "-C", str(config), *[f"-D{k}={v}" for k, v in defines.items()], *args]
    result = subprocess.run(cmd, input=dialogue, capture_output=True, text=True, timeout=60)
    replies = [line for line in result.stdout.splitlines() if line[:3].isdigit() and line[3:4] == " "]
    # banner, EHLO, MAIL, RCPT, QUIT
    if len(replies) < 4:
        return "refuse" if replies and replies[0].startswith("5") else "unsure"
    code = replies[3][:1]
    return {"2": "accept", "5": "refuse"}.get(code, "unsure")


def _lists(config) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {name: [i.value for i in named.items if not i.negated] for name, named in config.named_lists.items()}


def _check(exim: Exim, path: Path, defines: dict[str, str], workdir: Path, root: Path | None = None) -> list[str]:
    result = convert(str(path), defines=defines, root=str(root) if root else "/")
    policy = result.policy
    workdir.chmod(0o755)
    # A fresh spool each time, where exim's own user can reach it (pytest's tmp
    # tree is root-only): ratelimit hints must not carry over between checks.
    spool = Path(tempfile.mkdtemp(prefix="exim2smtpd-spool-"))
    spool.chmod(0o1777)
    oracle = dns_free_config(path, defines, workdir / "oracle.conf", spool=spool, root=root)
    problems = []
    sure = 0
    try:
        for client in clients(policy):
            for klass, addresses in recipients(policy, _lists(result.config)).items():
                verdicts = {exim_verdict(exim, oracle, defines, client, a) for a in addresses}
                verdict = "accept" if "accept" in verdicts else "refuse" if verdicts == {"refuse"} else "unsure"
                sure += verdict != "unsure"
                rcpt = addresses[0]
                ours = smtpd_accepts(policy, client, rcpt)
                if verdict == "refuse" and ours:
                    problems.append(f"MORE PERMISSIVE: {client} -> {rcpt} ({klass}): exim refuses, smtpd would accept")
                if verdict == "accept" and not ours:
                    problems.append(f"lost mail: {client} -> {rcpt} ({klass}): exim accepts, smtpd would refuse")
            for rcpt in hosted_recipients(policy):
                verdict = exim_verdict(exim, oracle, defines, client, rcpt)
                sure += verdict != "unsure"
                ours = smtpd_accepts(policy, client, rcpt)
                if verdict == "refuse" and ours:
                    problems.append(
                        f"MORE PERMISSIVE: {client} -> {rcpt} ({HOSTED_DOMAINS}): exim refuses, smtpd would accept"
                    )
                bounced = exim.run(oracle, "-bt", rcpt, defines=defines).returncode == 2  # taken, bounced later
                if verdict == "accept" and not ours and not bounced:
                    problems.append(
                        f"lost mail: {client} -> {rcpt} ({HOSTED_DOMAINS}): exim accepts, smtpd would refuse"
                    )
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    if not sure:  # exim could not answer at all (a spool it cannot write...): the check proved nothing
        problems.append(f"exim answered no question for sure about {path}")
    return problems


# Known, reported differences where exim accepts and the migration refuses.
ACCEPTED_LOSSES: dict[str, list[str]] = {
    # The perl-decided accept and smarthost are left out on purpose (reported unmapped).
    "unrepresentable": ["lost mail"],
    # outbound mail gated by ${perl}, a mailbox check by ${run}: left out and reported lost
    "run-perl": ["lost mail"],
}
# Known, reported differences where the migration accepts what exim refused.
ACCEPTED_WIDENINGS: dict[str, list[str]] = {
    # No reverse DNS here, so exim's HELO ACL refuses every outside client; smtpd has no HELO checks, and the
    # report lists them as not carried over (EXIM-ACL-FILTER, advice: rspamd's hfilter).
    "control-panel-helo": ["MORE PERMISSIVE: Client(klass='anyone'"],
}
# The fixtures with a copy of the server's files. Not the SQL ones: sql-virtual needs a MySQL server, and
# sql-lookups and sql-hosting a database test_verify builds (exim would create an empty one in the fixture's tree).
IDIOMS = [
    p.parent.name
    for p in sorted(FIXTURES.glob("*/root"))
    if p.parent.name not in ("article-mx", "sql-virtual", "sql-lookups", "sql-hosting")
]


@pytest.mark.exim
@pytest.mark.parametrize(
    "case",
    ["article-mx", "macros-conditionals", "includes-lists", "continuations-tabs", "unrepresentable", "content-filters"],
)
def test_fixtures_never_more_permissive_than_exim(exim: Exim, tmp_path: Path, case: str) -> None:
    problems = _check(exim, FIXTURES / case / "configure", {}, tmp_path)
    assert not [p for p in problems if p.startswith("MORE PERMISSIVE")], problems
    allowed = ACCEPTED_LOSSES.get(case, [])
    assert [p for p in problems if not any(p.startswith(a) for a in allowed)] == []


@pytest.mark.exim
@pytest.mark.parametrize("case", IDIOMS)
def test_idioms_never_more_permissive_than_exim(exim: Exim, tmp_path: Path, case: str) -> None:
    """The same for every fixture with a copy of the server's files, hosted domains address by address."""
    problems = _check(exim, FIXTURES / case / "configure", {}, tmp_path, FIXTURES / case / "root")
    widened = [p for p in problems if p.startswith("MORE PERMISSIVE")]
    assert [p for p in widened if not any(p.startswith(a) for a in ACCEPTED_WIDENINGS.get(case, []))] == []
    allowed = ACCEPTED_LOSSES.get(case, []) + ACCEPTED_WIDENINGS.get(case, [])
    assert [p for p in problems if not any(p.startswith(a) for a in allowed)] == []


@pytest.mark.exim
@pytest.mark.parametrize("name", ["internet", "smarthost", "satellite", "local", "template", "upstream-example"])
def test_debian_configs_agree_with_exim(exim: Exim, debian_corpus: Corpus, tmp_path: Path, name: str) -> None:
    """Never more permissive, and no class of mail lost either."""
    problems = _check(exim, debian_corpus.files[name], debian_corpus.defines[name], tmp_path)
    assert problems == []


def _mutate(monkeypatch: pytest.MonkeyPatch, change: Callable[[Policy], Policy]) -> None:
    """``_check`` converts as usual, then ``change`` alters the policy: a mutation the check must catch."""
    real = convert

    def mutated(path: str, **kwargs: Any) -> Result:
        result = real(path, **kwargs)
        return dataclasses.replace(result, policy=change(result.policy))

    monkeypatch.setattr(sys.modules[__name__], "convert", mutated)


@pytest.mark.exim
def test_the_check_catches_an_open_relay(exim: Exim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proof that the property test can fail: add 'match from any for any' and it must complain."""
    open_relay = MatchRule("any", None, "any", None, "outbound")
    _mutate(monkeypatch, lambda policy: dataclasses.replace(policy, rules=(*policy.rules, open_relay)))
    problems = _check(exim, FIXTURES / "article-mx" / "configure", {}, tmp_path)
    assert any(p.startswith("MORE PERMISSIVE") and "elsewhere.example" in p for p in problems)


@pytest.mark.exim
def test_the_check_catches_a_hosted_catch_all(exim: Exim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proof that the hosted-domain check can fail: a catch-all the mailbox files do not have must be caught."""

    def catch_all(policy: Policy) -> Policy:
        tables = tuple(
            dataclasses.replace(t, mapping=(*t.mapping, ("@example.com", "vmail"))) if t.name == "hosted_users" else t
            for t in policy.tables
        )
        return dataclasses.replace(policy, tables=tables)

    _mutate(monkeypatch, catch_all)
    case = FIXTURES / "virtual-maildir"
    problems = _check(exim, case / "configure", {}, tmp_path, case / "root")
    assert any(p.startswith("MORE PERMISSIVE") and "no-such-user-4711@example.com" in p for p in problems), problems


@pytest.mark.exim
def test_the_check_catches_odd_local_parts(exim: Exim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proof that the denied-local-parts rule matters: without it a hosted catch-all takes odd%path@."""

    def without_rcpt_regex(policy: Policy) -> Policy:
        rules = tuple(r for r in policy.rules if r.rcpt_regex_table is None)
        assert len(rules) < len(policy.rules)
        return dataclasses.replace(policy, rules=rules)

    _mutate(monkeypatch, without_rcpt_regex)
    case = FIXTURES / "vhost-catchall"
    problems = _check(exim, case / "configure", {}, tmp_path, case / "root")
    assert any(p.startswith("MORE PERMISSIVE") and "odd%path@shop.example" in p for p in problems), problems


@pytest.mark.exim
def test_the_check_catches_subaddresses(exim: Exim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proof that sub-addr-delim matters: with smtpd's default "+", postmaster+tag4711@ reaches postmaster."""

    def default_delimiter(policy: Policy) -> Policy:
        assert policy.limits.sub_addr_delim == ":"
        return dataclasses.replace(policy, limits=dataclasses.replace(policy.limits, sub_addr_delim=None))

    _mutate(monkeypatch, default_delimiter)
    case = FIXTURES / "virtual-maildir"
    problems = _check(exim, case / "configure", {}, tmp_path, case / "root")
    assert any(p.startswith("MORE PERMISSIVE") and "postmaster+tag4711@example.com" in p for p in problems), problems
