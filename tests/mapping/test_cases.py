"""One exim statement at a time, through the mapping API alone: no file is read, no daemon runs.

Each case adds one statement (or a few) to a small MX configuration, maps it
from a string with its lookup files in a MemoryStore, and names the bucket
and rule the statement must land in, and what the policy must then hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from migrate.lookups import MemoryStore
from migrate.mapping import build_policy
from migrate.model import Policy
from migrate.reader import read_text

BASE = """\
primary_hostname = mx.example.org
domainlist local_domains = @ : example.org
hostlist relay_from_hosts = 192.0.2.0/24
acl_smtp_rcpt = acl_rcpt
{main}
begin acl
acl_rcpt:
  accept hosts = :
{acl}
  accept hosts = +relay_from_hosts
  require verify = recipient
  accept domains = +local_domains
  deny message = relay not permitted

begin routers
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more
{routers}
local_user:
  driver = accept
  check_local_user
  transport = local_delivery

begin transports
remote_smtp:
  driver = smtp
{transport}
local_delivery:
  driver = appendfile
  file = /var/mail/$local_part

begin retry
{retry}
"""


@dataclass(frozen=True)
class Case:
    """One statement, where it goes in BASE, the bucket and rule it lands in, and what the policy holds."""

    name: str
    text: str
    place: str  # main, acl, routers, transport, retry
    bucket: str
    rule: str = ""  # the finding's rule ("" for a plain mapped statement)
    holds: Callable[[Policy], bool] = lambda _: True
    files: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("size", "message_size_limit = 20M", "main", "mapped", holds=lambda p: p.limits.max_message_size == "20M"),
    Case(
        "size-expanded",
        "message_size_limit = ${if eq{$interface_port}{587}{50M}{20M}}",
        "main",
        "unmapped",
        "EXIM-SIZE-EXPANDED",
    ),
    Case("size-unlimited", "message_size_limit = 0", "main", "approximated", "EXIM-SIZE-UNLIMITED"),
    Case("qualify", "qualify_domain = example.org", "main", "approximated", "EXIM-QUALIFY-DOMAIN"),
    Case("log", "log_selector = +all", "main", "ignored", "EXIM-IGNORED"),
    Case("system-filter", "system_filter = /etc/exim/filter", "main", "unmapped", "EXIM-SYSTEM-FILTER"),
    Case("banner", "smtp_banner = $primary_hostname ESMTP", "main", "unmapped", "EXIM-BANNER"),
    Case(
        "tls-expanded",
        "tls_certificate = ${if exists{/etc/ssl/$tls_sni.pem}{/etc/ssl/$tls_sni.pem}{/etc/ssl/default.pem}}",
        "main",
        "unmapped",
        "EXIM-TLS-EXPANDED",
        holds=lambda p: not p.certificates and all(li.tls == "none" for li in p.listeners),
    ),
    Case(
        "tls",
        "tls_certificate = /etc/ssl/mx.pem",
        "main",
        "mapped",
        holds=lambda p: [c.cert for c in p.certificates] == ["/etc/ssl/mx.pem"],
    ),
    Case(
        "smtps-without-certificate",
        "tls_on_connect_ports = 465\ndaemon_smtp_ports = 25 : 465",
        "main",
        "unmapped",
        "EXIM-TLS-NO-CERTIFICATE",
        holds=lambda p: [li.port for li in p.listeners] == [25],
    ),
    Case("port-name", "daemon_smtp_ports = 25 : nonsense", "main", "unmapped", "EXIM-LISTEN-PORT"),
    Case(
        "dnsbl",
        "  deny dnslists = zen.spamhaus.org",
        "acl",
        "approximated",
        "EXIM-CONTENT-DNSBL",
        holds=lambda p: [d.zone for d in p.content.dnsbls] == ["zen.spamhaus.org"],
    ),
    Case("warn-log", "  warn log_message = seen", "acl", "ignored", "EXIM-ACL-WARN-LOG"),
    Case("warn-header", "  warn add_header = X-Seen: yes", "acl", "unmapped", "EXIM-ACL-WARN"),
    Case(
        "per-address-router",
        "special:\n  driver = manualroute\n  condition = ${if eq{$local_part}{x}}\n  route_list = * relay.example.net\n"
        "  transport = remote_smtp",
        "routers",
        "unmapped",
        "EXIM-ROUTER-PER-ADDRESS",
    ),
    Case(
        "domains-from-a-file",
        "domainlist relay_to_domains = lsearch;/etc/exim/relay",
        "main",
        "mapped",
        holds=lambda p: (
            p.table("relay_domains") is not None and p.table("relay_domains").entries == ("relay.example.net",)
        ),  # type: ignore[union-attr]
        files={"/etc/exim/relay": "relay.example.net\n# a comment\n"},
    ),
    Case(
        "domains-from-a-missing-file",
        "domainlist relay_to_domains = lsearch;/etc/exim/missing",
        "main",
        "unmapped",
        "EXIM-LIST-ITEMS",
    ),
    Case(
        "retry",
        "*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h",
        "retry",
        "approximated",
        "EXIM-RETRY",
        holds=lambda p: p.limits.queue_ttl == "4d",
    ),
    Case(
        "dkim-expanded-key",
        "  dkim_domain = $sender_address_domain\n  dkim_selector = mail\n"
        "  dkim_private_key = ${if exists{/etc/dkim/$dkim_domain.pem}{/etc/dkim/$dkim_domain.pem}{0}}",
        "transport",
        "unmapped",
        "EXIM-DKIM-UNMAPPED",
        holds=lambda p: p.content.dkim is None and not p.filters,
    ),
]


def _map(case: Case) -> tuple[Policy, int]:
    slots = dict.fromkeys(("main", "acl", "routers", "transport", "retry"), "")
    slots[case.place] = case.text
    text = BASE.format(**slots)
    first = case.text.splitlines()[0] if case.text else "begin acl"
    line = text.splitlines().index(first) + 1
    config = read_text(text)
    return build_policy(config, "openbsd", store=MemoryStore(case.files)), line


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_one_statement(case: Case) -> None:
    policy, line = _map(case)
    buckets = [bucket for span, bucket in policy.accounting if span.line == line]
    assert buckets, f"no statement read at line {line}"
    assert buckets[0] == case.bucket
    if case.rule:
        rules_here = {f.rule.id for f in policy.findings if f.span.line == line}
        assert case.rule in rules_here, rules_here
    assert case.holds(policy)


def test_the_base_configuration_maps_cleanly() -> None:
    policy, _ = _map(Case("none", "", "main", "mapped"))
    assert all(bucket != "unmapped" for _, bucket in policy.accounting)
    # no redirect router: no alias or .forward can point outside, so no warning that they would fail
    assert "EXIM-ALIAS-OUTSIDE" not in {f.rule.id for f in policy.findings}
    assert {(d.client, d.recipient) for d in policy.decisions if d.accept} >= {
        ("anyone", "local-domains"),
        ("relay_from_hosts", "other-domains"),
    }
    assert not any(d.accept for d in policy.decisions if d.client == "anyone" and d.recipient == "other-domains")
