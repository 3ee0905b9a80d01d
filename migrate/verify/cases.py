"""Probe cases from the policy: every client class against every recipient class.

Each case is one SMTP transaction (client address, authenticated or not,
sender, recipient). Addresses are chosen at the edges that matter: inside and
outside each trusted network, IPv4 and IPv6, each local and relay domain, an
unknown domain, a local part with a "%" in it, postmaster and postmaster+tag,
an existing system user, a user that does not exist, and the local socket. Admins can add their own cases from a file.

A long list is sampled (``spread``): a hosting provider's 200,000 domains would
otherwise be millions of questions. The sample always holds the first and the
last entry, so both ends of a table file are asked about; ``check`` and
``diff`` compare every entry.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from migrate.model import ANYONE, AUTHENTICATED, LOCAL_CLIENT, Policy

SENDER = "probe@probe.example"
# Addresses from ranges no configuration lists (RFC 2544 benchmarking, RFC 5180).
OUTSIDE_V4 = ("198.18.0.77", "198.19.255.77")
OUTSIDE_V6 = ("2001:2::77", "2001:2:0:ffff::77")
UNKNOWN_DOMAIN = "elsewhere.example"
# A local part of the kind exim's default configuration refuses (a "%" hack) and smtpd's grammar allows:
# a catch-all alias or a relaying client would take it unless a rule refuses it as exim did.
ODD_LOCAL_PART = "odd%path"
# smtpd delivers user+tag to user unless told otherwise; exim only where a router strips the suffix.
TAG = "tag4711"
WRONG_PASSWORD = "exim2smtpd-wrong-password-4711"  # no one's: the login must fail on both sides
SAMPLE = 10  # entries of a domain or network list asked about, at most


@dataclass(frozen=True)
class Case:
    """One probe: who connects, as whom, and to which recipient."""

    client: str  # "socket", or an IP address
    recipient: str
    client_class: str
    recipient_class: str
    authenticated: bool = False
    sender: str = SENDER
    note: str = ""
    login: str = ""  # logs in as this user with ``password`` (exim checks it too); "": exim takes the session
    password: str = field(default="", repr=False)  # as authenticated, smtpd as a probe user it can check
    port: int = 0  # the listener's port (0: port 25, or every listener offering AUTH)

    @property
    def wrong_password(self) -> bool:
        """A login case whose password is verify's own invention: both must refuse the login."""
        return self.password == WRONG_PASSWORD


def generate(policy: Policy, domains: dict[str, list[str]]) -> list[Case]:
    """Cases for every client class and recipient class of the policy."""
    if any(rule.destination == "local" for rule in policy.rules):
        # exim's "@" and smtpd's "for local": this host's own name, the same inside the namespace.
        domains = {**domains, "local": [*domains.get("local", []), socket.gethostname().lower()]}
    clients = _clients(policy)
    recipients = _recipients(domains)
    ports = tagged_ports(policy) or [0]
    return [
        Case(address, rcpt, klass, rclass, authenticated=auth, port=0 if address == "socket" else port)
        for klass, address, auth in clients
        for rclass, rcpt in recipients
        for port in (ports if address != "socket" else [0])
    ] + _wrong_passwords(policy)


def tagged_ports(policy: Policy) -> list[int]:
    """One port per listener tag, where the output keeps exim's policy per port (STARTTLS ports first)."""
    chosen: dict[str, int] = {}
    for listener in sorted(policy.listeners, key=lambda li: (li.tls == "smtps", li.port)):
        if listener.tag and listener.tag not in chosen:
            chosen[listener.tag] = listener.port
    return sorted(chosen.values())


def _wrong_passwords(policy: Policy) -> list[Case]:
    """A real login with a wrong password on each AUTH listener's port: both must refuse it.

    The login is the credentials table's first (a user exim knows); the
    right passwords are the admin's to give (``--cases``), never invented.
    """
    table = next((t for t in policy.tables if t.kind == "logins"), None)
    ports = sorted({li.port for li in policy.listeners if li.auth != "none"})
    if table is None or not table.mapping or not ports:
        return []
    login = table.mapping[0][0]
    recipient = f"someone@{UNKNOWN_DOMAIN}"
    return [
        Case(
            OUTSIDE_V4[0],
            recipient,
            AUTHENTICATED,
            "other-domains",
            True,
            login=login,
            password=WRONG_PASSWORD,
            port=port,
        )
        for port in ports
    ]


def _clients(policy: Policy) -> list[tuple[str, str, bool]]:
    listed = [ipaddress.ip_network(e, strict=False) for t in policy.tables if t.kind == "networks" for e in t.entries]
    outside_v4 = next(a for a in OUTSIDE_V4 if not _in(a, listed))
    outside_v6 = next(a for a in OUTSIDE_V6 if not _in(a, listed))
    found: list[tuple[str, str, bool]] = []
    for client in policy.clients:
        if client.name == LOCAL_CLIENT:
            found.append((LOCAL_CLIENT, "socket", False))
        elif client.name == ANYONE:
            found += [(ANYONE, outside_v4, False), (ANYONE, outside_v6, False)]
        elif client.name == AUTHENTICATED:
            found.append((AUTHENTICATED, outside_v4, True))
        else:
            table = policy.table(client.table or "")
            for entry in spread(list(table.entries)) if table else ():
                for address in _edges(entry):
                    if address not in ("127.0.0.1", "::1"):  # smtpd counts these as local
                        found.append((client.name, address, False))
    return found


def _edges(entry: str) -> list[str]:
    """The first and last usable address of a network (one for a host)."""
    network = ipaddress.ip_network(entry, strict=False)
    if network.num_addresses == 1:
        return [str(network.network_address)]
    first = network.network_address + 1
    last = network.broadcast_address - 1 if network.version == 4 else network.broadcast_address
    return [str(first), str(last)] if last != first else [str(first)]


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip.version == n.version and ip in n for n in networks)


def _recipients(domains: dict[str, list[str]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for domain in spread(_concrete(domains.get("local", []))):
        found += [
            ("local-domains", f"postmaster@{domain}"),
            ("local-domains", f"root@{domain}"),
            ("local-domains", f"no-such-user-4711@{domain}"),
            ("local-domains", f"postmaster+{TAG}@{domain}"),
        ]
    for domain in _concrete(domains.get("hosted", []))[:3]:
        found += [
            ("hosted-domains", f"postmaster@{domain}"),
            ("hosted-domains", f"no-such-user-4711@{domain}"),
            ("hosted-domains", f"{ODD_LOCAL_PART}@{domain}"),
            ("hosted-domains", f"postmaster+{TAG}@{domain}"),
        ]
    for domain in spread(_concrete(domains.get("relay", []))):
        found.append(("relay-domains", f"someone@{domain}"))
    found.append(("other-domains", f"someone@{UNKNOWN_DOMAIN}"))
    found.append(("other-domains", f"{ODD_LOCAL_PART}@{UNKNOWN_DOMAIN}"))
    return found


def spread(entries: list[str], most: int = SAMPLE) -> list[str]:
    """At most ``most`` entries, evenly spread, the first and the last among them."""
    if len(entries) <= most:
        return entries
    return [entries[round(i * (len(entries) - 1) / (most - 1))] for i in range(most)]


_DOMAIN = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


def _concrete(entries: list[str]) -> list[str]:
    """Domains to send to: literals as they are, ``*.x`` as a name under x."""
    found = []
    domain = _DOMAIN.fullmatch
    for entry in entries:
        name = ("probe" + entry[1:] if entry.startswith("*.") else entry).lower()
        if name == "localhost" or domain(name):
            found.append(name)
    return list(dict.fromkeys(found))


def read_cases(path: Path) -> list[Case]:
    """Extra cases, one per line (# comments)::

        CLIENT RECIPIENT                         # CLIENT an address or 'socket'
        CLIENT RECIPIENT auth                    # as an authenticated user (exim told so, smtpd a probe user)
        CLIENT RECIPIENT auth USER PASSWORD [PORT]   # a real login, checked by both

    A real login is tried on every listener offering AUTH, or on PORT only.
    """
    cases = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        login = words[2:3] == ["auth"] and len(words) in (5, 6) and (len(words) == 5 or words[5].isdigit())
        if not (len(words) == 2 or (len(words) == 3 and words[2] == "auth") or login) or "@" not in words[1]:
            raise ValueError(f"{path}:{number}: expected 'CLIENT RECIPIENT [auth [USER PASSWORD [PORT]]]'")
        if words[0] != "socket":
            ipaddress.ip_address(words[0])
        user, password, port = (words[3], words[4], int(words[5]) if len(words) == 6 else 0) if login else ("", "", 0)
        cases.append(
            Case(
                words[0],
                words[1],
                "user",
                "user",
                authenticated=len(words) >= 3,
                note="from " + path.name,
                login=user,
                password=password,
                port=port,
            )
        )
    return cases
