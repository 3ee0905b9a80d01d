"""Ports, interfaces, TLS and AUTH → smtpd ``pki`` and ``listen`` lines.

exim's defaults matter here: with no ``daemon_smtp_ports`` it listens on 25,
with no ``local_interfaces`` on every address, and ``tls_advertise_hosts``
defaults to ``*``.  Debian keeps its ports in /etc/default/exim4, outside the
configuration, so a Debian config alone listens on 25 only.
"""

from __future__ import annotations

import re

from migrate import rules
from migrate.lookups import LookupStore
from migrate.mapping.ledger import Ledger
from migrate.model import Certificate, Listener
from migrate.platforms import platform as get_platform
from migrate.reader.lists import split_list
from migrate.reader.tree import EximConfig

SERVICES = {"smtp": 25, "submission": 587, "smtps": 465, "urd": 465, "ssmtp": 465}
SUBMISSION = 587


def ports(config: EximConfig, ledger: Ledger) -> list[int]:
    """The ports exim listens on, in the order written."""
    option = config.options.get("daemon_smtp_ports") or config.options.get("daemon_smtp_port")
    if option is None or option.value is None:
        return [25]
    found = []
    for item in split_list(option.value.text)[1]:
        text = item.text.strip()
        if text.isdigit():
            found.append(int(text))
        elif text in SERVICES:
            found.append(SERVICES[text])
        else:
            ledger.mark(option, "unmapped", rules.LISTEN_PORT, f"port {text!r} is not a number or known service")
    return found


def interfaces(config: EximConfig, platform: str, ledger: Ledger) -> list[tuple[str, int | None]]:
    """Addresses to listen on, with a per-address port where exim gives one."""
    option = config.options.get("local_interfaces")
    if option is None or option.value is None:
        return [("all", None)] if get_platform(platform).listen_on_all else [("0.0.0.0", None), ("::", None)]
    found: list[tuple[str, int | None]] = []
    for item in split_list(option.value.text)[1]:
        address, port = _address_and_port(item.text.strip())
        if address in ("0.0.0.0", "::0", "::"):
            address = "0.0.0.0" if address == "0.0.0.0" else "::"
        if address:
            found.append((address, port))
    if {a for a, _ in found} == {"0.0.0.0", "::"} and get_platform(platform).listen_on_all:
        return [("all", None)]
    return found


def _address_and_port(text: str) -> tuple[str, int | None]:
    """exim writes ``[addr]:port`` or ``addr.port`` for a per-interface port."""
    if text.startswith("[") and "]:" in text:
        address, _, port = text[1:].partition("]:")
        return address, int(port) if port.isdigit() else None
    head, dot, tail = text.rpartition(".")
    if dot and tail.isdigit() and (head.count(".") == 3 or ":" in head):
        return head, int(tail)
    return text, None


_SNI = r"\$(?:\{tls_(?:in_)?sni\}|tls_(?:in_)?sni\b)"
# ${if exists{DIR/${tls_sni}SUFFIX}{DIR/${tls_sni}SUFFIX}{DEFAULT}}: a file per name the client asks for
_PER_SNI = re.compile(
    rf"\$\{{if\s*exists\s*\{{(?P<dir>/[^{{}}$]+)/{_SNI}(?P<suffix>[^{{}}$/]*)\}}\s*"
    rf"\{{(?P=dir)/{_SNI}(?P=suffix)\}}\s*\{{(?P<default>/[^{{}}$]+)\}}\s*\}}"
)
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


def certificates(
    config: EximConfig, hostname: str, ledger: Ledger, store: LookupStore, platform: str
) -> tuple[Certificate, ...]:
    """The TLS certificates: the default first, then one per host name a per-SNI choice has files for."""
    cert, key = config.options.get("tls_certificate"), config.options.get("tls_privatekey")
    if cert is None or cert.value is None or key is None or key.value is None:
        found = certificate(config, hostname, ledger)
        return (found,) if found else ()
    by_cert, by_key = _PER_SNI.fullmatch(cert.value.text.strip()), _PER_SNI.fullmatch(key.value.text.strip())
    if by_cert is None or by_key is None:
        found = certificate(config, hostname, ledger)
        return (found,) if found else ()
    origin = (cert.span, key.span)
    default = Certificate("default", by_cert.group("default"), by_key.group("default"), origin)  # not a host name
    names = _names(store, by_cert.group("dir"), by_cert.group("suffix"), by_key.group("dir"), by_key.group("suffix"))
    names = [n for n in names if f"{by_cert.group('dir')}/{n}{by_cert.group('suffix')}" != default.cert]  # its own
    cert_file, key_file = (
        by_cert.group("dir") + "/{}" + by_cert.group("suffix"),
        by_key.group("dir") + "/{}" + by_key.group("suffix"),
    )
    extra = tuple(Certificate(n, cert_file.format(n), key_file.format(n), origin) for n in names)
    sni = get_platform(platform).sni
    message = (
        f"{cert.name}/{key.name} are chosen per host name (SNI): the default and one pki per name with both files "
        f"under --root ({', '.join(names) or 'none'}), all on every TLS listener; smtpd picks the one whose "
        "certificate names the host the client asks for (exim: the file named after it), else the default; a "
        "name whose files are added later needs its own pki line"
    )
    if not sni:
        message = (
            f"{cert.name}/{key.name} are chosen per host name (SNI); OpenSMTPD {get_platform(platform).smtpd_version} "
            "takes one pki per listener, so every client gets the default certificate"
        )
    for option in (cert, key):
        ledger.mark(option, "approximated", rules.TLS_SNI, message)
    return (default, *extra) if sni else (default,)


def _names(store: LookupStore, cert_dir: str, cert_suffix: str, key_dir: str, key_suffix: str) -> list[str]:
    try:
        entries = store.listdir(cert_dir)
    except OSError:
        return []
    found = []
    for entry in sorted(entries):
        name = entry[: -len(cert_suffix)] if cert_suffix and entry.endswith(cert_suffix) else ""
        if name and _HOST.fullmatch(name.lower()) and store.is_file(f"{key_dir}/{name}{key_suffix}"):
            found.append(name)
    return found


def certificate(config: EximConfig, hostname: str, ledger: Ledger) -> Certificate | None:
    """The TLS certificate, when exim names literal files for it."""
    cert = config.options.get("tls_certificate")
    key = config.options.get("tls_privatekey")
    if cert is None or cert.value is None:
        return None
    if cert.value.expansion is not None or (
        key is not None and key.value is not None and key.value.expansion is not None
    ):
        for option in (cert, key):
            if option is not None:
                ledger.mark(
                    option,
                    "unmapped",
                    rules.TLS_EXPANDED,
                    f"{option.name} is chosen by an expansion (per SNI?); smtpd needs one pki per name, "
                    "so no listener offers TLS",
                    rules.TLS_EXPANDED.advice,
                )
        return None
    key_path = key.value.text.strip() if key is not None and key.value is not None else cert.value.text.strip()
    origin = (cert.span, key.span) if key is not None else (cert.span,)
    return Certificate(hostname, cert.value.text.strip(), key_path, origin)


def listeners(
    config: EximConfig,
    platform: str,
    pki: Certificate | None,
    auth: bool,
    ledger: Ledger,
    logins: str | None = None,
    tags: dict[int, str] | None = None,
    sni: tuple[str, ...] = (),
) -> list[Listener]:
    """One listener per address and port, with TLS and AUTH as exim offered them (``logins``: the credentials
    table AUTH checks, else the system passwords)."""
    port_list = ports(config, ledger)
    smtps = set()
    on_connect = config.options.get("tls_on_connect_ports")
    if on_connect is not None and on_connect.value is not None:
        smtps = {int(i.text) for i in split_list(on_connect.value.text)[1] if i.text.strip().isdigit()}
    advertise = config.options.get("tls_advertise_hosts")
    starttls = advertise is None or (advertise.value is not None and advertise.value.text.strip() != "")
    origin = tuple(
        o.span
        for o in (
            config.options.get("daemon_smtp_ports"),
            on_connect,
            config.options.get("local_interfaces"),
            advertise,
        )
        if o is not None
    )
    found = []
    for address, fixed_port in interfaces(config, platform, ledger):
        for port in [fixed_port] if fixed_port else port_list:
            if port in smtps and pki is None:
                assert on_connect is not None
                ledger.mark(
                    on_connect,
                    "unmapped",
                    rules.TLS_NO_CERTIFICATE,
                    f"port {port} was TLS on connect in exim; with no certificate migrated smtpd cannot "
                    "offer it, so nothing listens there",
                    rules.TLS_NO_CERTIFICATE.advice,
                )
                continue
            tls = "smtps" if port in smtps else "starttls" if (pki and starttls) else "none"
            auth_mode = "optional" if auth and tls != "none" else "none"
            found.append(
                Listener(
                    address,
                    port,
                    tls,
                    auth_mode,
                    pki.name if pki and tls != "none" else None,
                    origin,
                    submission=port == SUBMISSION,
                    logins=logins if auth_mode != "none" else None,
                    sni=sni if tls != "none" else (),
                    tag=(tags or {}).get(port),
                )
            )
    return found
