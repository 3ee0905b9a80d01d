"""``@`` in the local domains is exim's primary_hostname and nothing else.

smtpd's ``for local`` would also take ``localhost`` (and this host's other
names) from anyone: exim's own default configuration refused mail from
outside to postmaster@localhost. So ``@`` becomes the host's one name.
"""

from __future__ import annotations

from migrate.lookups import MemoryStore
from migrate.mapping import build_policy
from migrate.model import ANYONE, LOCAL_DOMAINS
from migrate.reader import read_text

CONFIG = """\
domainlist local_domains = {local}
acl_smtp_rcpt = acl_rcpt
begin acl
acl_rcpt:
  accept hosts = :
  require verify = recipient
  accept domains = +local_domains
  deny message = relay not permitted
begin routers
local_user:
  driver = accept
  check_local_user
  transport = local_delivery
begin transports
local_delivery:
  driver = appendfile
  file = /var/mail/$local_part
"""


def _policy(local: str, files: dict[str, str]):  # type: ignore[no-untyped-def]
    return build_policy(read_text(CONFIG.format(local=local)), store=MemoryStore(files))


def _findings(policy) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.rule.id: f.message for f in policy.findings}


def test_at_is_the_hosts_own_name_read_from_etc_hostname() -> None:
    policy = _policy("@ : example.org", {"/etc/hostname": "MX.example.org\n"})
    table = policy.table("local_domains")
    assert table is not None and table.entries == ("mx.example.org", "example.org")
    assert not any(r.destination == "local" and r.source == "any" for r in policy.rules)
    assert "mx.example.org, from /etc/hostname" in _findings(policy)["EXIM-LOCAL-HOST-NAME"]
    assert policy.decision(ANYONE, LOCAL_DOMAINS).accept


def test_without_a_name_at_is_reported_never_widened_to_for_local() -> None:
    policy = _policy("@ : example.org", {})
    table = policy.table("local_domains")
    assert table is not None and table.entries == ("example.org",)
    assert not any(r.destination == "local" and r.source == "any" for r in policy.rules)
    assert "@ (this host's name" in _findings(policy)["EXIM-LIST-ITEMS"]


def test_address_literals_are_reported_refused() -> None:
    policy = _policy("@ : @[] : example.org", {"/etc/hostname": "mx.example.org\n"})
    assert "@[]" in _findings(policy)["EXIM-LOCAL-LITERALS"]
    assert not any(r.destination == "local" and r.source == "any" for r in policy.rules)
