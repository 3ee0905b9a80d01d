"""exim's own values in the system aliases file (:blackhole:, :fail:, :defer:, :unknown:) and smtpd's copy of it.

Mapped from strings through the mapping API (lookup files in a MemoryStore):
what the translated copy holds for each value, that a file without such values
is read as it is, and where the keys that cannot be carried are reported.
What the real daemons answer for each value is in tests/verify/test_alias_values.py.
"""

from __future__ import annotations

import pytest

from migrate import rules
from migrate.lookups import MemoryStore
from migrate.mapping import build_policy
from migrate.mapping.aliases import REFUSED, error_value, redirect_items
from migrate.model import Policy, Table
from migrate.reader import read_text
from migrate.render import render

CONFIG = """\
primary_hostname = mx.example.org
domainlist local_domains = @ : example.org
hostlist relay_from_hosts = 127.0.0.1
acl_smtp_rcpt = acl_rcpt

begin acl
acl_rcpt:
  accept hosts = :
  accept hosts = +relay_from_hosts
  require domains = +local_domains
  require verify = recipient
  accept

begin routers
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more
system_aliases:
  driver = redirect
{permits}
  data = ${{lookup{{$local_part}}lsearch{{/etc/aliases}}}}
{local}
begin transports
remote_smtp:
  driver = smtp
local_delivery:
  driver = appendfile
  file = /var/mail/$local_part
"""
LOCAL_USER = """localuser:
  driver = accept
  check_local_user
  transport = local_delivery
"""
ALLOW = "  allow_fail\n  allow_defer"
ALIASES = """\
# ordinary entries
postmaster: root
root: admin@example.net
spamtrap: :blackhole:
jdoe: :fail: Jane Doe has left, sorry
movers: :defer: mailbox being moved
ghost: :unknown:
team: :include:/etc/exim/team.list
mixed: admin@example.net, :fail: no longer here
"""


def _policy(
    aliases: str, *, permits: str = ALLOW, local: str = LOCAL_USER, files: dict[str, str] | None = None
) -> Policy:
    config = read_text(CONFIG.format(permits=permits, local=local))
    store = MemoryStore({"/etc/aliases": aliases, "/etc/exim/team.list": "admin@example.net\nroot\n", **(files or {})})
    return build_policy(config, "openbsd", store=store)


def _aliases(policy: Policy) -> Table:
    table = policy.table("aliases")
    assert table is not None
    return table


def _copy(policy: Policy) -> dict[str, str]:
    """The written copy, key by key, as smtpd reads its lines (key, blank, value)."""
    text = render(policy).files["translated_aliases"]
    return dict(line.split(" ", 1) for line in text.splitlines())


def test_each_exim_value_becomes_what_smtpd_answers_the_same_way() -> None:
    policy = _policy(ALIASES)
    table = _aliases(policy)
    assert table.generated and table.file == "/etc/mail/translated_aliases" and table.sources == ("/etc/aliases",)
    assert _copy(policy) == {
        "postmaster": "root",
        "root": "admin@example.net",
        "spamtrap": "/dev/null",
        "jdoe": "error:550 Jane Doe has left\\, sorry",  # smtpd splits values at an unescaped comma
        "movers": "error:451 mailbox being moved",
        "team": ":include:/etc/exim/team.list",  # smtpd's :include: reads the same list of addresses
        "mixed": REFUSED,
    }  # ghost (:unknown:) has no entry: smtpd goes on to its local users, as exim to its next routers
    assert 'table "aliases" "file:/etc/mail/translated_aliases"' in render(policy).files["smtpd.conf"]


def test_the_translation_is_one_finding_on_the_router_and_each_key_left_out_is_located_in_the_file() -> None:
    policy = _policy(ALIASES)
    (summary,) = [f for f in policy.findings if f.rule is rules.ALIASES_EXIM_VALUES]
    router = CONFIG.splitlines().index("system_aliases:") + 1  # on the router: the report lists whole statements
    assert (summary.severity, summary.span.file, summary.span.line) == ("approximated", "configure", router)
    for said in (
        "aliases file /etc/aliases: 4 exim value(s) translated",
        ":blackhole: → /dev/null for spamtrap (line 4)",
        ":fail: → error:550 with exim's text for jdoe (line 5)",
        ":defer: → error:451 with exim's text for movers (line 6)",
        ":unknown: → no entry for ghost (line 7)",
        "left out, so that smtpd refuses them as unknown recipients: mixed (line 9)",
    ):
        assert said in summary.message
    (left,) = [f for f in policy.findings if f.rule is rules.ALIASES_VALUE_LEFT_OUT]
    assert (left.span.file, left.span.line, left.severity) == ("/etc/aliases", 9, "unmapped")
    assert left.source == "mixed: admin@example.net, :fail: no longer here"
    assert "smtpd refuses mixed@ as an unknown recipient" in left.message


def test_a_file_without_exim_values_is_read_as_it_is() -> None:
    policy = _policy("postmaster: root\nroot: admin@example.net\nlist: :include:/etc/exim/team.list\n")
    assert _aliases(policy) == Table("aliases", "aliases", file="/etc/aliases", origin=_aliases(policy).origin)
    assert "translated_aliases" not in render(policy).files
    assert not [f for f in policy.findings if f.rule in (rules.ALIASES_EXIM_VALUES, rules.ALIASES_VALUE_LEFT_OUT)]


def test_an_aliases_file_that_cannot_be_read_here_is_named_as_before() -> None:
    config = read_text(CONFIG.format(permits=ALLOW, local=LOCAL_USER))
    policy = build_policy(config, "openbsd", store=MemoryStore({}))
    assert _aliases(policy).file == "/etc/aliases" and not _aliases(policy).generated


def test_items_the_router_does_not_permit_are_deferred_as_exim_defers_them() -> None:
    """Without allow_fail and allow_defer, and with forbid_blackhole and forbid_include, exim 4.100 answers
    "451 Temporary local problem - please try later"."""
    policy = _policy(ALIASES, permits="  forbid_blackhole\n  forbid_include")
    deferred = error_value("451", "Temporary local problem - please try later", "")
    copy = _copy(policy)
    assert [copy[k] for k in ("spamtrap", "jdoe", "movers", "team")] == [deferred] * 4
    assert copy["root"] == "admin@example.net"


def test_a_forward_only_action_keeps_no_value_smtpd_would_defer_there() -> None:
    """smtpd 7.9 defers /dev/null and error:550 on a forward-only action: a :fail: key gets no entry (refused as
    unknown), a :blackhole: cannot be kept (reported), a :defer: stays a deferral."""
    policy = _policy(ALIASES, local="")
    assert 'action "local" forward-only alias <aliases>' in render(policy).files["smtpd.conf"]
    copy = _copy(policy)
    assert "jdoe" not in copy and "spamtrap" not in copy and "mixed" not in copy
    assert copy["movers"] == "error:451 mailbox being moved"
    left = {f.span.line: f.message for f in policy.findings if f.rule is rules.ALIASES_VALUE_LEFT_OUT}
    assert sorted(left) == [4, 9]
    assert ":blackhole: on a forward-only action" in left[4] and "no entry in the copy" in left[4]


def test_unknown_beside_addresses_is_dropped_and_blackhole_anywhere_discards_the_whole_value() -> None:
    """exim 4.100 -bt: ':unknown:, admin@example.net' routes to admin only; ':blackhole:' anywhere in a list
    discards the message for all of it."""
    copy = _copy(_policy("a: :unknown:, admin@example.net\nb: admin@example.net, :blackhole:\n"))
    assert copy == {"a": "admin@example.net", "b": "/dev/null"}


def test_an_include_file_holding_exim_values_is_left_out() -> None:
    files = {"/etc/exim/odd.list": "# members\nadmin@example.net\n:fail: gone\n"}
    policy = _policy("x: :blackhole:\nodd: :include:/etc/exim/odd.list\n", files=files)
    assert _copy(policy)["odd"] == REFUSED
    (left,) = [f for f in policy.findings if f.rule is rules.ALIASES_VALUE_LEFT_OUT]
    assert left.span.line == 2 and ":include:/etc/exim/odd.list" in left.message


def test_the_first_line_of_a_key_wins_whatever_its_case_and_expansions_are_text() -> None:
    """exim does not expand what a lookup returns: '${local_part}@example.net' is an address to exim 4.100 and
    smtpd 7.9 alike, so it is copied as it is. Keys are lowercased: smtpd's table matches them as written."""
    aliases = "Ghost: :unknown:\nghost: admin@example.net\nexp: ${local_part}@example.net\nempty:\n"
    copy = _copy(_policy(aliases))
    assert copy == {"exp": "${local_part}@example.net"}


def test_a_key_smtpd_cannot_hold_is_left_out() -> None:
    policy = _policy('"two words": admin@example.net\nx: :blackhole:\n')
    assert "two" not in _copy(policy)
    (left,) = [f for f in policy.findings if f.rule is rules.ALIASES_VALUE_LEFT_OUT]
    assert left.span.line == 1 and "blanks or quotes" in left.message


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("550", "Jane Doe has left the company", "error:550 Jane Doe has left the company"),
        ("550", "gone, sorry", "error:550 gone\\, sorry"),
        ("550", 'it is "quoted"', 'error:550 it is \\"quoted\\"'),
        ("550", "a\\b", "error:550 a\\\\b"),
        ("550", '"quoted text"', 'error:550 5.0.0 \\"quoted text\\"'),  # smtpd wants a letter or digit first
        ("451", "(later)", "error:451 4.0.0 (later)"),
        ("550", "", "error:550 Invalid recipient"),  # exim's bare :fail: says "550 " and nothing more
        ("550", "5.1.1 no such user", "error:550 5.1.1 no such user"),
    ],
)
def test_error_values_keep_exims_text_as_smtpd_parses_it(code: str, text: str, expected: str) -> None:
    assert error_value(code, text, "Invalid recipient") == expected


@pytest.mark.parametrize(
    ("data", "items"),
    [
        ("root, admin@example.net", ["root", "admin@example.net"]),
        (":fail: gone, admin@example.net", [":fail: gone, admin@example.net"]),  # the rest is :fail:'s text
        ("admin@example.net, :fail: gone, sorry", ["admin@example.net", ":fail: gone, sorry"]),
        ('"|/usr/bin/prog a,b", root', ['"|/usr/bin/prog a,b"', "root"]),
        ("Admin <admin@example.net>, (a, comment) root", ["Admin <admin@example.net>", "(a, comment) root"]),
        ("", []),
    ],
)
def test_redirect_items_are_split_as_exim_splits_them(data: str, items: list[str]) -> None:
    assert redirect_items(data) == items
