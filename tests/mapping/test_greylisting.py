"""Greylisting (issue 15 item 4): a temporary refusal that a retry passes refuses no class of clients.

The sub-ACL idiom (``require acl = greylist_mail``) used to refuse all inbound
mail; the inline greylistd idiom was called a per-message filter to move to
rspamd by hand. Both now keep the class and go to rspamd's greylist module
with ``--greylist rspamd``, or are reported lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.commands.convert import Result, convert
from migrate.model import ANY_DOMAIN, ANYONE, LOCAL_DOMAINS, Policy
from tests.mapping.test_mapping import BASE, DNS_ROUTERS, LOCAL_ROUTER

GREYLISTD = (
    "${readsocket{/var/run/greylistd/socket}{--grey $sender_host_address $sender_address $local_part@$domain}"
    "{5s}{}{false}}"
)
SUB_ACL = f"""  accept  hosts = +relay_from_hosts
  require domains = +local_domains
  require acl = greylist_mail
  accept

greylist_mail:
  accept  hosts = +relay_from_hosts
  accept  senders = :
  defer   message = not yet authorized, please try later
          condition = {GREYLISTD}
  accept"""


def _convert(tmp_path: Path, acl: str, greylist: str = "off") -> Result:
    path = tmp_path / "configure"
    transports = "local_delivery:\n  driver = appendfile\n  file = /var/mail/$local_part_data"
    path.write_text(BASE.format(main="", acl=acl, routers=f"{DNS_ROUTERS}\n{LOCAL_ROUTER}", transports=transports))
    return convert(str(path), greylist=greylist)


def _accepts(policy: Policy, client: str, recipient: str) -> bool:
    decision = policy.decision(client, recipient)
    return bool(decision and decision.accept)


def _rules(result: Result) -> dict[str, str]:
    return {f.rule.id: f.severity for f in result.report.findings()}


def test_a_greylisting_sub_acl_keeps_inbound_mail(tmp_path: Path) -> None:
    result = _convert(tmp_path, SUB_ACL)
    assert _accepts(result.policy, ANYONE, LOCAL_DOMAINS)
    assert not _accepts(result.policy, ANYONE, ANY_DOMAIN)
    inbound = next(s for s in result.report.services if s.service.name == "inbound")
    assert inbound.service.provided and inbound.kept
    assert "EXIM-ACL-CLASS-SPLIT" not in _rules(result)


def test_without_rspamd_greylisting_is_reported_lost(tmp_path: Path) -> None:
    result = _convert(tmp_path, SUB_ACL)
    assert _rules(result)["EXIM-GREYLIST-LOST"] == "unmapped"
    assert "rspamd/local.d/greylist.conf" not in result.files


def test_with_rspamd_greylisting_goes_to_its_greylist_module(tmp_path: Path) -> None:
    result = _convert(tmp_path, SUB_ACL, greylist="rspamd")
    assert _rules(result)["EXIM-GREYLIST-RSPAMD"] == "approximated"
    assert "EXIM-GREYLIST-LOST" not in _rules(result)
    assert "timeout = 5min;" in result.files["rspamd/local.d/greylist.conf"]
    assert 'filter "rspamd"' in result.files["smtpd.conf"].split("listen on all", 1)[1].splitlines()[0]
    (finding,) = [f for f in result.report.findings() if f.rule.id == "EXIM-GREYLIST-RSPAMD"]
    assert any(t.startswith("rspamd/local.d/greylist.conf") for t in finding.targets)


def test_inline_greylistd_defer_is_greylisting_not_a_filter(tmp_path: Path) -> None:
    acl = f"""  accept  hosts = +relay_from_hosts
  require domains = +local_domains
  defer   message = greylisted, try again later
          condition = {GREYLISTD}
  accept"""
    result = _convert(tmp_path, acl, greylist="rspamd")
    assert _accepts(result.policy, ANYONE, LOCAL_DOMAINS)
    assert "EXIM-GREYLIST-RSPAMD" in _rules(result)
    assert "EXIM-ACL-FILTER" not in _rules(result)


@pytest.mark.parametrize(
    ("passes", "accepted"),
    [
        # the retry's pass: a triplet known to the greylist database; every new one is deferred
        (
            "  accept  condition = ${lookup sqlite{/var/spool/exim/greylist.db SELECT 1 WHERE k='$sender_address'}}",
            True,
        ),
        # no pass before it: exim defers every message, for ever
        ("", False),
    ],
)
def test_an_unconditional_greylisting_defer_accepts_only_through_a_pass(
    tmp_path: Path, passes: str, accepted: bool
) -> None:
    acl = f"""  accept  hosts = +relay_from_hosts
  require domains = +local_domains
  require acl = greylist_mail
  accept

greylist_mail:
{passes}
  defer   message = greylisted"""
    result = _convert(tmp_path, acl)
    assert _accepts(result.policy, ANYONE, LOCAL_DOMAINS) is accepted
    assert not _accepts(result.policy, ANYONE, ANY_DOMAIN)


def test_a_greylisting_pass_never_opens_a_relay(tmp_path: Path) -> None:
    """The pass accepts local domains only: for other domains the defer is never passed, so nothing relays."""
    acl = """  accept  hosts = +relay_from_hosts
  require acl = greylist_mail
  accept

greylist_mail:
  accept  domains = +local_domains
          condition = ${lookup sqlite{/var/spool/exim/greylist.db SELECT 1 WHERE k='$sender_address'}}
  defer   message = greylisted"""
    result = _convert(tmp_path, acl, greylist="rspamd")
    assert _accepts(result.policy, ANYONE, LOCAL_DOMAINS)
    assert not _accepts(result.policy, ANYONE, ANY_DOMAIN)


def test_a_greylisting_defer_on_a_host_list_still_splits_the_class(tmp_path: Path) -> None:
    """Greylisting words do not hide a test of who connects: exim deferred the hosts outside that list for ever."""
    acl = """  accept  hosts = +relay_from_hosts
  require domains = +local_domains
  defer   message = greylisted
          !hosts = net-lsearch;/etc/exim/known_hosts
  accept"""
    result = _convert(tmp_path, acl)
    assert not _accepts(result.policy, ANYONE, LOCAL_DOMAINS)
    assert "EXIM-ACL-CLASS-SPLIT" in _rules(result)
