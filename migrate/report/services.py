"""Services, side by side: what exim provided, and whether the written files keep it.

The mapping found what exim provided (``Policy.services``). Whether the output
keeps it is read from the files themselves: smtpd.conf is parsed back and
probed the way smtpd decides, first match wins, for a client of each kind
(the internet, a trusted network, an authenticated user, the local socket,
an alias expansion) and a recipient in a local domain or elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate.errors import ConfigError
from migrate.model import LOCAL_DOMAINS, Service
from migrate.render import Rendered
from migrate.render.smtpd_reader import SmtpdPolicy, read_smtpd_conf

LOCAL_TABLES = ("local_domains", "local_domains_sql", "virtual_domains")


@dataclass(frozen=True)
class ServiceState:
    """One service exim provided and what became of it."""

    service: Service
    kept: bool
    why: str
    steps: tuple[str, ...] = ()  # lost: the advice of the findings at its origin, how to restore it

    def to_dict(self) -> dict[str, object]:
        """The JSON form (report field ``services``)."""
        return {
            "name": self.service.name,
            "title": self.service.title,
            "provided": self.service.provided,
            "kept": self.kept,
            "why": self.why,
            "steps": list(self.steps),
            "origin": [f"{s.file}:{s.line}" for s in self.service.origin if s.line],
        }


def service_states(services: tuple[Service, ...], rendered: Rendered) -> list[ServiceState]:
    """For each service exim provided, whether the written files keep it, and why."""
    try:
        conf = read_smtpd_conf(rendered.files.get("smtpd.conf", ""), "smtpd.conf")
    except ConfigError:
        conf = SmtpdPolicy()
    probe = _Probe(conf, rendered.files)
    return [ServiceState(s, *probe.check(s)) for s in services if s.provided]


@dataclass
class _Probe:
    conf: SmtpdPolicy
    files: dict[str, str]

    def check(self, service: Service) -> tuple[bool, str]:
        return getattr(self, f"_{service.name}")(service)

    # -- the services -----------------------------------------------------------------

    def _inbound(self, _: Service) -> tuple[bool, str]:
        if not self._network_listeners():
            return False, "smtpd listens on no network address"
        return self._delivers("any", "local", "mail from the internet to a local domain", port="25")

    def _hosted(self, service: Service) -> tuple[bool, str]:
        if not self._network_listeners():
            return False, "smtpd listens on no network address"
        kept, why = self._delivers("any", "hosted", "mail from the internet to a hosted domain", port="25")
        if kept and service.left_out:
            routers = ", ".join(service.left_out)
            return False, f"{why}, but not what router{'s' * (len(service.left_out) > 1)} {routers} took: refused"
        return kept, why

    def _relay(self, service: Service) -> tuple[bool, str]:
        if not self._network_listeners():
            return False, "smtpd listens on no network address"
        return self._relays(("src", f"<{service.table}>"), f"mail from {service.table} to other domains")

    def _submission(self, _: Service) -> tuple[bool, str]:
        if not any(li.get("auth") or li.get("auth-optional") for li in self._network_listeners()):
            return False, "no listener offers AUTH"
        return self._relays("auth", "mail from authenticated users to other domains")

    def _outbound(self, service: Service) -> tuple[bool, str]:
        relays = [a for a in self._reachable_actions() if a.get("method") == "relay"]
        if not relays:
            return False, "no match rule leads to a relay action"
        if service.needs_auth and not any("auth" in a for a in relays):
            return False, (
                "exim logged in to its smarthost (hosts_require_auth = *) and the relay action sends no "
                "credentials, so the smarthost will refuse the mail"
            )
        return True, "a relay action delivers mail for other domains"

    def _sendmail(self, service: Service) -> tuple[bool, str]:
        lost = [
            recipient
            for recipient in service.recipients
            if not (
                self._delivers("socket", "local", "") if recipient == LOCAL_DOMAINS else self._relays("socket", "")
            )[0]
        ]
        if lost:
            where = ", ".join(r.replace("-", " ") for r in lost)
            return False, f"the output refuses what exim delivered from the local socket to {where}"
        return True, "the local socket's mail is delivered"

    def _forwarding(self, _: Service) -> tuple[bool, str]:
        if not any("alias" in a or "virtual" in a for a in self.conf.actions.values()):
            return False, "no action expands aliases"
        return self._relays("loopback", "alias expansions to outside addresses (smtpd re-matches them as local)")

    def _content(self, _: Service) -> tuple[bool, str]:
        modules = [n for n in self.files if n.startswith("rspamd/local.d/") and not n.endswith("greylist.conf")]
        if not modules:
            return False, "no rspamd module is configured"
        unfiltered = [str(li.get("on")) for li in self._network_listeners() if not self._filtered(li, "filter-rspamd")]
        if unfiltered or not self._network_listeners():
            return False, "filter-rspamd is not on every listener: " + ", ".join(unfiltered or ["none"])
        return True, "filter-rspamd on every listener"

    def _dkim(self, _: Service) -> tuple[bool, str]:
        if "rspamd/local.d/dkim_signing.conf" not in self.files:
            return False, "nothing in the output signs mail"
        unfiltered = [str(li.get("on")) for li in self.conf.listeners if not self._filtered(li, "filter-rspamd")]
        if unfiltered:
            return False, "filter-rspamd (which hands mail to rspamd's dkim_signing) is not on " + ", ".join(unfiltered)
        return True, "rspamd's dkim_signing, with filter-rspamd on the socket and every listener"

    # -- probing smtpd.conf ------------------------------------------------------------

    def _network_listeners(self) -> list[dict[str, object]]:
        return [li for li in self.conf.listeners if li.get("on") != "socket"]

    def _filtered(self, listener: dict[str, object], command: str) -> bool:
        name = listener.get("filter")
        if not isinstance(name, str):
            return False
        text = self.conf.filters.get(name, "")
        if text.startswith("chain"):
            return any(command in self.conf.filters.get(part, "") for part in text.split()[2:-1] if part != ",")
        return command in text

    def _first(self, source: object, destination: str, port: str | None = None) -> dict[str, object] | None:
        """The action the first matching rule picks for a session on some listener (on ``port``, if given)
        or the socket: the first listener tag whose rules pick one (None: refused, or nothing matches)."""
        tags: list[str | None] = [None] if source == "socket" else self._tags(port)
        for tag in tags:
            action = self._first_on(source, destination, tag)
            if action is not None:
                return action
        return None

    def _first_on(self, source: object, destination: str, tag: str | None) -> dict[str, object] | None:
        for rule in self.conf.rules:
            if "rcpt-to" in rule or "!rcpt-to" in rule:
                continue  # it decides for some addresses only, not for the service
            if "tag" in rule and rule["tag"] != tag:
                continue  # for sessions on another port's listeners
            if _from_matches(rule, source) and _for_matches(rule, destination):
                action = rule.get("action")
                return self.conf.actions.get(str(action)) if action != "reject" else None
        return None

    def _tags(self, port: str | None) -> list[str | None]:
        """The tags of the network listeners (on ``port``, when one listens there)."""
        listeners = self._network_listeners()
        on_port = [li for li in listeners if str(li.get("port", "25")) == port] if port else []
        tags = [str(li["tag"]).strip('"') if li.get("tag") else None for li in on_port or listeners]
        return list(dict.fromkeys(tags)) or [None]

    def _delivers(self, source: object, destination: str, what: str, port: str | None = None) -> tuple[bool, str]:
        action = self._first(source, destination, port)
        if action is None:
            return False, f"{what} is refused"
        if action.get("method") == "relay":
            return False, f"{what} is relayed, not delivered"
        if action.get("method") == "forward-only":
            return True, f"{what} is forwarded (forward-only: its aliases lead elsewhere, other addresses are refused)"
        return True, f"{what} is delivered"

    def _relays(self, source: object, what: str) -> tuple[bool, str]:
        action = self._first(source, "other")
        if action is None or action.get("method") != "relay":
            return False, f"{what}: refused"
        return True, f"{what}: relayed"

    def _reachable_actions(self) -> list[dict[str, object]]:
        found = []
        for source in ("socket", "loopback", "auth", "any", *self._src_tables()):
            action = self._first(source, "other")
            if action is not None:
                found.append(action)
        return found

    def _src_tables(self) -> list[tuple[str, str]]:
        return [r["from"] for r in self.conf.rules if isinstance(r.get("from"), tuple)]  # type: ignore[misc]


def _from_matches(rule: dict[str, object], source: object) -> bool:
    if rule.get("auth") and source != "auth":
        return False
    if "!from" in rule:
        return not _origin_matches(rule["!from"], source)
    return _origin_matches(rule.get("from"), source)


def _origin_matches(origin: object, source: object) -> bool:
    if origin == "any":
        return True
    if origin == "local":
        return source in ("socket", "loopback")
    if origin == "socket":
        return source == "socket"
    return isinstance(origin, tuple) and origin == source


def _for_matches(rule: dict[str, object], destination: str) -> bool:
    if "!for" in rule:
        return not _target_matches(rule["!for"], destination)
    return _target_matches(rule.get("for"), destination)


def _target_matches(target: object, destination: str) -> bool:
    if target == "any":
        return True
    if destination == "hosted":
        return (
            isinstance(target, tuple)
            and target[0] == "domain"
            and str(target[1]).strip("<>") in ("virtual_domains", "hosted_domains", "hosted_domains_sql")
        )
    if destination != "local":
        return False
    if target == "local":
        return True
    return isinstance(target, tuple) and target[0] == "domain" and str(target[1]).strip("<>") in LOCAL_TABLES
