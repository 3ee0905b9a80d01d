"""Mapping rules one at a time: small exim configs in, decisions and smtpd lines out."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.commands.convert import convert
from migrate.model import ANY_DOMAIN, ANYONE, AUTHENTICATED, LOCAL_CLIENT, LOCAL_DOMAINS, RELAY_DOMAINS, Policy
from migrate.verify import adapt as smtpd_check
from tests.conftest import FIXTURES

BASE = """keep_environment =
primary_hostname = mx.example.org
domainlist local_domains = @ : example.org
domainlist relay_to_domains = relay.example
hostlist relay_from_hosts = 192.0.2.0/24
acl_smtp_rcpt = acl_check_rcpt
{main}
begin acl
acl_check_rcpt:
{acl}
begin routers
{routers}
begin transports
remote_smtp:
  driver = smtp
{transports}
"""
STANDARD_ACL = """  accept  hosts = :
  accept  hosts = +relay_from_hosts
  require domains = +local_domains : +relay_to_domains
  accept"""
DNS_ROUTERS = """dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more"""
LOCAL_ROUTER = """localuser:
  driver = accept
  domains = +local_domains
  check_local_user
  transport = local_delivery"""


def _policy(
    tmp_path: Path,
    *,
    main: str = "",
    acl: str = STANDARD_ACL,
    routers: str = "",
    transports: str = "",
    platform: str = "openbsd",
) -> tuple[Policy, str]:
    path = tmp_path / "configure"
    routers = routers or f"{DNS_ROUTERS}\n{LOCAL_ROUTER}"
    transports = transports or "local_delivery:\n  driver = appendfile\n  file = /var/mail/$local_part_data"
    path.write_text(BASE.format(main=main, acl=acl, routers=routers, transports=transports))
    result = convert(str(path), platform=platform)
    return result.policy, result.files["smtpd.conf"]


def _accepts(policy: Policy, client: str, recipient: str) -> bool:
    decision = policy.decision(client, recipient)
    return bool(decision and decision.accept)


def _assert_smtpd_ok(smtpd: str, text: str, tmp_path: Path) -> None:
    result = smtpd_check.check(text, tmp_path / "check")
    assert result.returncode == 0, result.stderr + text


# -- local delivery methods ----------------------------------------------------


@pytest.mark.parametrize(
    ("transport", "action"),
    [
        ("driver = appendfile\n  file = /var/mail/$local_part_data", 'action "local" mbox'),
        ("driver = appendfile\n  directory = $home/Maildir\n  maildir_format", 'action "local" maildir'),
        (
            "driver = appendfile\n  directory = /srv/mail/$domain/$local_part/\n  maildir_format",
            'action "local" maildir "/srv/mail/%{dest.domain}/%{user.username}/"',
        ),
        ("driver = lmtp\n  socket = /var/run/dovecot/lmtp", 'action "local" lmtp "/var/run/dovecot/lmtp" rcpt-to'),
        (
            "driver = smtp\n  protocol = lmtp\n  hosts = 127.0.0.1\n  port = 2424",
            'action "local" lmtp "127.0.0.1:2424" rcpt-to',
        ),
        ("driver = pipe\n  command = /usr/bin/procmail", 'action "local" mda "/usr/bin/procmail"'),
        (
            "driver = pipe\n  command = /usr/lib/dovecot/dovecot-lda -d $local_part",
            'action "local" mda "/usr/lib/dovecot/dovecot-lda -d %{user.username}"',
        ),
    ],
)
def test_local_delivery_methods(smtpd: str, tmp_path: Path, transport: str, action: str) -> None:
    _, text = _policy(tmp_path, transports=f"local_delivery:\n  {transport}")
    assert action in text.splitlines()
    _assert_smtpd_ok(smtpd, text, tmp_path)


def test_pipe_with_unknown_expansion_is_not_guessed(tmp_path: Path) -> None:
    policy, text = _policy(
        tmp_path, transports="local_delivery:\n  driver = pipe\n  command = /bin/x ${lc:$sender_address}"
    )
    assert "mda" not in text
    assert not _accepts(policy, ANYONE, LOCAL_DOMAINS)
    assert any(f.rule.id == "EXIM-TRANSPORT-PIPE" for f in policy.findings)


def test_aliases_and_forward_in_front_of_local_delivery(smtpd: str, tmp_path: Path) -> None:
    routers = f"""{DNS_ROUTERS}
system_aliases:
  driver = redirect
  domains = +local_domains
  data = ${{lookup{{$local_part}}lsearch{{/etc/aliases}}}}
userforward:
  driver = redirect
  domains = +local_domains
  check_local_user
  file = $home/.forward
  allow_filter
{LOCAL_ROUTER}"""
    policy, text = _policy(tmp_path, routers=routers)
    assert 'table "aliases" "file:/etc/aliases"' in text
    assert 'action "local" mbox alias <aliases>' in text
    assert any(f.rule.id == "EXIM-ROUTER-FORWARD-FILTER" and f.severity == "approximated" for f in policy.findings)
    _assert_smtpd_ok(smtpd, text, tmp_path)


# -- relaying ------------------------------------------------------------------


def test_smarthost_with_port(smtpd: str, tmp_path: Path) -> None:
    routers = f"""smarthost:
  driver = manualroute
  domains = ! +local_domains
  route_list = * smarthost.example.net::2525 byname
  transport = remote_smtp
{LOCAL_ROUTER}"""
    _, text = _policy(tmp_path, routers=routers)
    assert 'action "outbound" relay host "smtp://smarthost.example.net:2525"' in text
    _assert_smtpd_ok(smtpd, text, tmp_path)


def test_per_domain_routes_use_the_transport_port(smtpd: str, tmp_path: Path) -> None:
    routers = f"""relay:
  driver = manualroute
  domains = +relay_to_domains
  route_list = relay.example 198.51.100.26
  transport = relay_smtp
{DNS_ROUTERS}
{LOCAL_ROUTER}"""
    transports = (
        "relay_smtp:\n  driver = smtp\n  port = 2525\n"
        "local_delivery:\n  driver = appendfile\n  file = /var/mail/$local_part"
    )
    _, text = _policy(tmp_path, routers=routers, transports=transports)
    assert '\t"relay.example" = "smtp://198.51.100.26:2525"' in text
    assert 'action "relay_domains" relay domain <relay_routes>' in text
    _assert_smtpd_ok(smtpd, text, tmp_path)


def test_local_only_config_relays_nothing(tmp_path: Path) -> None:
    routers = f"""nonlocal:
  driver = redirect
  domains = ! +local_domains
  allow_fail
  data = :fail: Mailing to remote domains not supported
{LOCAL_ROUTER}"""
    policy, text = _policy(tmp_path, routers=routers)
    for client in (LOCAL_CLIENT, "relay_from_hosts", ANYONE):
        assert not _accepts(policy, client, ANY_DOMAIN)
        assert not _accepts(policy, client, RELAY_DOMAINS)
    assert "for any action" not in text


# -- ACL semantics ---------------------------------------------------------------


def test_unset_rcpt_acl_refuses_every_smtp_client(tmp_path: Path) -> None:
    path = tmp_path / "configure"
    path.write_text(
        BASE.replace("acl_smtp_rcpt = acl_check_rcpt\n", "").format(
            main="",
            acl=STANDARD_ACL,
            routers=f"{DNS_ROUTERS}\n{LOCAL_ROUTER}",
            transports="local_delivery:\n  driver = appendfile\n  file = /var/mail/$local_part",
        )
    )
    policy = convert(str(path)).policy
    assert not any(d.accept for d in policy.decisions if d.client != LOCAL_CLIENT)
    assert _accepts(policy, LOCAL_CLIENT, ANY_DOMAIN)


def test_endpass_turns_a_failed_later_condition_into_a_refusal(tmp_path: Path) -> None:
    acl = """  accept  domains = +relay_to_domains
          endpass
          condition = false
  accept  hosts = +relay_from_hosts"""
    policy, _ = _policy(tmp_path, acl=acl)
    assert not _accepts(policy, "relay_from_hosts", RELAY_DOMAINS)
    assert _accepts(policy, "relay_from_hosts", ANY_DOMAIN)


def test_unknown_condition_in_accept_never_opens_anything(tmp_path: Path) -> None:
    acl = """  accept  condition = ${if eq{$sender_helo_name}{friend}}
  require domains = +local_domains
  accept"""
    policy, _ = _policy(tmp_path, acl=acl)
    assert not _accepts(policy, ANYONE, ANY_DOMAIN)
    assert _accepts(policy, ANYONE, LOCAL_DOMAINS)
    assert any(f.rule.id == "EXIM-ACL-CONDITIONAL-ACCEPT" and f.severity == "unmapped" for f in policy.findings)


def test_deny_filter_is_reported_not_applied_to_the_whole_class(tmp_path: Path) -> None:
    acl = """  deny    senders = ${if exists{/etc/blocked}{/etc/blocked}{}}
  deny    dnslists = zen.spamhaus.org
  require domains = +local_domains
  accept"""
    policy, _ = _policy(tmp_path, acl=acl)
    assert _accepts(policy, ANYONE, LOCAL_DOMAINS)
    assert any(f.rule.id == "EXIM-ACL-FILTER" for f in policy.findings)
    assert any(f.rule.id == "EXIM-CONTENT-DNSBL" for f in policy.findings)  # moved to rspamd


def test_deny_for_a_whole_class_is_kept(tmp_path: Path) -> None:
    acl = """  deny    hosts = +relay_from_hosts
          domains = +local_domains
  accept  hosts = +relay_from_hosts
  require domains = +local_domains
  accept"""
    policy, text = _policy(tmp_path, acl=acl)
    assert not _accepts(policy, "relay_from_hosts", LOCAL_DOMAINS)
    assert _accepts(policy, ANYONE, LOCAL_DOMAINS)
    lines = text.splitlines()
    assert lines.index("match from src <relay_from_hosts> for domain <local_domains> reject") < lines.index(
        'match from any for domain <local_domains> action "local"'
    )


def test_negated_network_is_excluded_from_the_table(tmp_path: Path) -> None:
    main = "hostlist trusted = !192.0.2.7 : 192.0.2.0/24 : 198.51.100.0/24"
    acl = """  accept  hosts = +trusted
  require domains = +local_domains
  accept"""
    policy, _ = _policy(tmp_path, main=main, acl=acl)
    table = policy.table("trusted")
    assert table is not None and table.entries == ("198.51.100.0/24",)
    assert any(f.rule.id == "EXIM-LIST-ITEMS" for f in policy.findings)


def test_per_port_acls_hold_each_on_its_own_listeners(tmp_path: Path) -> None:
    main = "daemon_smtp_ports = 25 : 587\nacl_smtp_rcpt = ${if ={587}{$received_port}{acl_submit}{acl_check_rcpt}}"
    acl = (
        STANDARD_ACL
        + """
acl_submit:
  accept  hosts = +relay_from_hosts
  deny"""
    )
    path = tmp_path / "configure"
    path.write_text(
        BASE.replace("acl_smtp_rcpt = acl_check_rcpt\n", "").format(
            main=main,
            acl=acl,
            routers=f"{DNS_ROUTERS}\n{LOCAL_ROUTER}",
            transports="local_delivery:\n  driver = appendfile\n  file = /var/mail/$local_part",
        )
    )
    policy = convert(str(path)).policy
    decided = {(d.tag, d.client, d.recipient): d.accept for d in policy.decisions}
    assert decided[("port25", ANYONE, LOCAL_DOMAINS)] and not decided[("port587", ANYONE, LOCAL_DOMAINS)]
    assert decided[("port25", "relay_from_hosts", ANY_DOMAIN)] and decided[("port587", "relay_from_hosts", ANY_DOMAIN)]
    assert {li.port: li.tag for li in policy.listeners} == {25: "port25", 587: "port587"}
    assert {r.tag for r in policy.rules if r.source == "any"} == {"port25"}  # nobody's mail on 587 but the network's
    assert not any(f.rule.id == "EXIM-ACL-PER-PORT" for f in policy.findings)  # mapped: each ACL where exim ran it


def test_authenticated_relay_needs_a_pam_authenticator(tmp_path: Path) -> None:
    acl = """  accept  authenticated = *
  require domains = +local_domains
  accept"""
    auth = """
begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_condition = ${if pam{$auth2:$auth3}}
"""
    policy, text = _policy(
        tmp_path, acl=acl, transports="local_delivery:\n  driver = appendfile\n  file = /var/mail/$local_part" + auth
    )
    assert _accepts(policy, AUTHENTICATED, ANY_DOMAIN)
    assert 'match auth from any for any action "outbound"' in text


def test_connect_acl_refusing_a_class_refuses_everything_for_it(tmp_path: Path) -> None:
    main = "acl_smtp_connect = acl_connect"
    acl = (
        STANDARD_ACL
        + """
acl_connect:
  deny    hosts = +relay_from_hosts
  accept"""
    )
    policy, _ = _policy(tmp_path, main=main, acl=acl)
    assert not any(d.accept for d in policy.decisions if d.client == "relay_from_hosts")


# -- listeners and limits ----------------------------------------------------------


def test_listeners_follow_ports_interfaces_and_tls(smtpd: str, tmp_path: Path) -> None:
    main = """daemon_smtp_ports = 25 : 465 : 587
tls_on_connect_ports = 465
local_interfaces = <; 192.0.2.1 ; 2001:db8::1 ; 127.0.0.1.2525
tls_certificate = /etc/ssl/mx.pem
tls_privatekey = /etc/ssl/mx.key
message_size_limit = 20M"""
    _, text = _policy(tmp_path, main=main, platform="linux")
    lines = text.splitlines()
    assert 'listen on "192.0.2.1" port 25 tls pki "mx.example.org" hostname "mx.example.org"' in lines
    assert 'listen on "2001:db8::1" port 465 smtps pki "mx.example.org" hostname "mx.example.org"' in lines
    assert 'listen on "192.0.2.1" port submission tls pki "mx.example.org" hostname "mx.example.org"' in lines
    assert 'listen on "127.0.0.1" port 2525 tls pki "mx.example.org" hostname "mx.example.org"' in lines
    assert "smtp max-message-size 20M" in lines


def test_size_defaults_to_exims_50M(tmp_path: Path) -> None:
    _, text = _policy(tmp_path)
    assert "smtp max-message-size 50M" in text.splitlines()


def test_inline_trusted_networks_become_a_client_table(smtpd: str, tmp_path: Path) -> None:
    acl = """  accept  hosts = <; 198.51.100.0/24 ; 2001:db8:1::/48
  require domains = +local_domains
  accept"""
    policy, text = _policy(tmp_path, acl=acl)
    name = next(c.name for c in policy.clients if c.name.startswith("trusted_hosts_line"))
    assert policy.table(name) is not None and policy.table(name).entries == ("198.51.100.0/24", "2001:db8:1::/48")
    assert _accepts(policy, name, ANY_DOMAIN)
    assert not _accepts(policy, ANYONE, ANY_DOMAIN)
    assert f'match from src <{name}> for any action "outbound"' in text
    assert not any(f.rule.id == "EXIM-ACL-CONDITIONAL-ACCEPT" for f in policy.findings)
    _assert_smtpd_ok(smtpd, text, tmp_path)


def test_a_require_on_hosts_smtpd_cannot_split_refuses_the_class(tmp_path: Path) -> None:
    """Found by the fuzzer: skipping this require made "accept hosts = *" an open relay."""
    config = tmp_path / "configure"
    config.write_text(
        "primary_hostname = mx.example.org\n"
        "domainlist local_domains = @ : localhost : example.org\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\nacl_check_rcpt:\n  require hosts = 127.0.0.1\n  accept  hosts = *\n"
        "begin routers\ndnslookup:\n  driver = dnslookup\n  domains = ! +local_domains\n"
        "  transport = remote_smtp\n  no_more\n"
        "begin transports\nremote_smtp:\n  driver = smtp\n"
    )
    result = convert(str(config))
    assert not any(d.accept for d in result.policy.decisions if d.client == "anyone")
    assert "match from any for any" not in result.files["smtpd.conf"]
    finding = next(f for f in result.policy.findings if f.rule.id == "EXIM-ACL-CLASS-SPLIT")
    assert finding.severity == "unmapped"


def test_a_deny_for_one_domain_of_a_class_refuses_the_class(tmp_path: Path) -> None:
    """Found by the fuzzer: exim refused example.org here, the filter reading let it through."""
    config = tmp_path / "configure"
    config.write_text(
        "primary_hostname = mx.example.org\n"
        "domainlist local_domains = @ : localhost : example.org\n"
        "hostlist relay_from_hosts = 127.0.0.1\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\nacl_check_rcpt:\n  accept  authenticated = *\n  deny    domains = example.org\n"
        "  accept  hosts = 127.0.0.1\n"
    )
    result = convert(str(config))
    trusted = [
        d for d in result.policy.decisions if d.client.startswith("trusted_hosts") and d.recipient == LOCAL_DOMAINS
    ]
    assert trusted and not any(d.accept for d in trusted)
    assert any(f.rule.id == "EXIM-ACL-CLASS-SPLIT" for f in result.policy.findings)


def test_a_host_blocklist_becomes_a_reject_rule_ahead_of_all(smtpd: str, tmp_path: Path) -> None:
    """Found by the fuzzer: 127.0.0.1, trusted below but denied first, could relay through smtpd."""
    config = tmp_path / "configure"
    config.write_text(
        "primary_hostname = mx.example.org\n"
        "domainlist local_domains = @ : localhost : example.org\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\nacl_check_rcpt:\n  deny    hosts = 127.0.0.1 : 198.51.100.0/24\n"
        "  accept  hosts = 127.0.0.1 : 192.0.2.0/24\n"
        "begin routers\ndnslookup:\n  driver = dnslookup\n  domains = ! +local_domains\n"
        "  transport = remote_smtp\n  no_more\n"
        "begin transports\nremote_smtp:\n  driver = smtp\n"
    )
    result = convert(str(config))
    rules = [line for line in result.files["smtpd.conf"].splitlines() if line.startswith("match ")]
    assert rules[0] == "match from src <denied_hosts> for any reject"
    assert result.policy.table("denied_hosts").entries == ("127.0.0.1", "198.51.100.0/24")
    check = smtpd_check.check(result.files["smtpd.conf"], tmp_path, result.files)
    assert check.returncode == 0, check.stderr


BLOCKLIST_FILE = (
    "primary_hostname = mx.example.org\n"
    "domainlist local_domains = @\n"
    "hostlist relay_from_hosts = 192.0.2.0/24\n"
    "hostlist bad_hosts = /etc/exim/bad_hosts\n"
    "acl_smtp_rcpt = acl_check_rcpt\n"
    "begin acl\nacl_check_rcpt:\n  deny    hosts = +bad_hosts\n"
    "  accept  domains = +local_domains\n  accept  hosts = +relay_from_hosts\n"
    "begin routers\ndnslookup:\n  driver = dnslookup\n  domains = ! +local_domains\n"
    "  transport = remote_smtp\n  no_more\n"
    "begin transports\nremote_smtp:\n  driver = smtp\n"
)


@pytest.mark.parametrize(
    ("listed", "table"),
    [
        ("192.0.2.9\n2001:db8:bad::/48 # by hand\n", ("192.0.2.9", "2001:db8:bad::/48")),
        ("192.0.2.9\nspam.example.net\n", None),  # a host name: smtpd cannot test it, the class stays refused
    ],
)
def test_a_blocklist_in_a_file_is_read_into_the_reject_rule(
    tmp_path: Path, listed: str, table: tuple[str, ...] | None
) -> None:
    """A file-backed deny refused the whole trusted class (it might hold 192.0.2.9); now only the listed hosts."""
    (tmp_path / "root/etc/exim").mkdir(parents=True)
    (tmp_path / "root/etc/exim/bad_hosts").write_text(listed)
    (tmp_path / "configure").write_text(BLOCKLIST_FILE)
    result = convert(str(tmp_path / "configure"), root=str(tmp_path / "root"))
    relays = result.policy.decision("relay_from_hosts", "other-domains")
    if table is None:
        assert result.policy.table("denied_hosts") is None
        assert relays is not None and not relays.accept
        return
    assert result.policy.table("denied_hosts").entries == table
    assert result.files["denied_hosts"].splitlines() == ["192.0.2.9", "[2001:db8:bad::/48]"]
    first = next(line for line in result.files["smtpd.conf"].splitlines() if line.startswith("match "))
    assert first == "match from src <denied_hosts> for any reject"
    assert relays is not None and relays.accept


def test_a_deny_for_part_of_a_trusted_table_refuses_that_class(tmp_path: Path) -> None:
    """Found by the fuzzer: 'deny hosts = 127.0.0.1 domains = +local_domains' above a trusted list holding it."""
    config = tmp_path / "configure"
    config.write_text(
        "primary_hostname = mx.example.org\n"
        "domainlist local_domains = @ : localhost : example.org\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\nacl_check_rcpt:\n  deny    hosts = 127.0.0.1\n          domains = +local_domains\n"
        "  accept  hosts = 127.0.0.1 : 192.0.2.0/24\n"
    )
    result = convert(str(config))
    trusted = [
        d for d in result.policy.decisions if d.client.startswith("trusted_hosts") and d.recipient == LOCAL_DOMAINS
    ]
    assert trusted and not any(d.accept for d in trusted)


def test_a_dnsbl_exim_applied_to_logged_in_users_says_rspamd_does_not(tmp_path: Path) -> None:
    """rspamd's rbl leaves authenticated users out by default; where exim's deny reached them, the report says so."""
    text = (FIXTURES / "per-port-submission" / "configure").read_text()
    deny = "  deny    message = listed at $dnslist_domain\n          dnslists = zen.spamhaus.org\n"
    reached = text.replace("  accept  hosts = +relay_from_hosts\n", "  accept  hosts = +relay_from_hosts\n" + deny)
    skipped = text.replace("  accept  hosts = +relay_from_hosts\n", "  accept  authenticated = *\n" + deny)
    messages = {}
    for name, body in (("reached", reached), ("skipped", skipped)):
        (tmp_path / name).write_text(body)
        policy = convert(str(tmp_path / name)).policy
        (found,) = [f.message for f in policy.findings if f.rule.id == "EXIM-CONTENT-DNSBL"]
        messages[name] = found
    assert "leaves authenticated users out" in messages["reached"]
    assert "leaves authenticated users out" not in messages["skipped"]
