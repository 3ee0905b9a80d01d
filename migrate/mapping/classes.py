"""Three-valued matching of exim lists against client and recipient classes.

The mapping never looks at a single address: it asks whether a list matches a
whole class ("any host in relay_from_hosts", "any local domain"). The answer is
True, False, or None when it depends on the individual host or domain.
Callers treat None so that the result is never more permissive than exim.

exim's list rules (spec 10.3): the first matching item decides, a ``!`` item
that matches means "no", and a list whose last item is negative behaves as if
``: *`` followed.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from migrate.model import (
    ANYONE,
    AUTHENTICATED,
    HOSTED_DOMAINS,
    LOCAL_CLIENT,
    LOCAL_DOMAINS,
    RELAY_DOMAINS,
)
from migrate.reader.lists import ListItem, parse_list
from migrate.reader.tree import EximConfig, NamedList

Tri = bool | None
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def match_list(items: tuple[ListItem, ...], match_item: Callable[[ListItem], Tri]) -> Tri:
    """Apply exim's first-match rule with a three-valued item matcher."""
    for item in items:
        matched = match_item(item)
        if matched is None:
            return None
        if matched:
            return not item.negated
    return bool(items) and items[-1].negated


@dataclass(frozen=True)
class ClassUniverse:
    """The named lists that define classes, and how to look other lists up."""

    config: EximConfig
    local_domains: str | None
    relay_domains: str | None
    client_tables: tuple[str, ...]
    inline_lists: dict[str, NamedList] = field(default_factory=dict)
    hosted_domains: str | None = None
    hosted_inline: str | None = None  # the lookup item that stands for an inline hosted list (dsearch;DIR)

    @functools.cached_property
    def _trusted_inline_texts(self) -> frozenset[str]:
        """The text of each inline host list that is a client class (looked up per condition)."""
        tables = set(self.client_tables)
        return frozenset(named.value.text for name, named in self.inline_lists.items() if name in tables)

    def named_items(self, name: str) -> tuple[ListItem, ...] | None:
        """The items of a named list (or of an inline list standing for a client class)."""
        named = self.inline_lists.get(name) or self.config.named_lists.get(name)
        return named.items if named is not None else None

    # -- recipients ---------------------------------------------------------

    def domains_match(self, value: str, recipient: str, depth: int = 0) -> Tri:
        """Does the domain list ``value`` match every domain of ``recipient``?"""
        _, items = parse_list(value, "domain")
        return match_list(items, lambda item: self._domain_item(item, recipient, depth))

    def _domain_item(self, item: ListItem, recipient: str, depth: int) -> Tri:
        if item.kind == "any":
            return True
        if self.hosted_inline is not None and item.text.strip().lstrip("!").strip() == self.hosted_inline:
            return recipient == HOSTED_DOMAINS
        if item.kind == "named":
            if item.value == self.local_domains:
                return recipient == LOCAL_DOMAINS
            if item.value == self.relay_domains:
                return recipient == RELAY_DOMAINS
            if item.value == self.hosted_domains:
                return recipient == HOSTED_DOMAINS
            items = self.named_items(item.value)
            if items is None or depth > 8:
                return None
            return match_list(items, lambda sub: self._domain_item(sub, recipient, depth + 1))
        # A literal domain, wildcard, regex or lookup may match some domains of
        # the class and not others: only "other domains" can be sure of nothing
        # when the item names something in the local or relay lists.
        return None

    # -- clients ------------------------------------------------------------

    def hosts_match(self, value: str, client: str, depth: int = 0) -> Tri:
        """Does the host list ``value`` match every host of ``client``?"""
        if client in (AUTHENTICATED, ANYONE) and value in self._trusted_inline_texts:
            return False  # an inline trusted list: "anyone" is outside it by definition
        _, items = parse_list(value, "host")
        items = tuple(i for i in items if i.kind != "option")
        covered = self._covers(items, client)
        if covered is not None:
            return covered
        return match_list(items, lambda item: self._host_item(item, client, depth))

    def _covers(self, items: tuple[ListItem, ...], client: str) -> Tri:
        """For a list of plain networks: does their union hold every network of a client table?

        Item by item, a list of IPv4 and IPv6 networks only ever covers half of
        a mixed table; exim's first-match rule gives each host the item that holds it.
        """
        if client in (LOCAL_CLIENT, AUTHENTICATED, ANYONE) or not items:
            return None
        if not all(i.kind in ("address", "network") and not i.negated for i in items):
            return None
        members = self.client_networks(client)
        if members is None:
            return None
        networks = [ipaddress.ip_network(i.value, strict=False) for i in items]
        inside = [any(m.version == n.version and m.subnet_of(n) for n in networks) for m in members]  # type: ignore[arg-type]
        if all(inside):
            return True
        if not any(m.version == n.version and m.overlaps(n) for m in members for n in networks):
            return False
        return None

    def _host_item(self, item: ListItem, client: str, depth: int) -> Tri:
        if item.kind == "empty":
            return client == LOCAL_CLIENT
        if item.kind == "any":
            return True  # exim: "*" matches a local (no host) SMTP session as well
        if client == LOCAL_CLIENT:
            # A message on the local socket has no host: only the empty item
            # (and lists that contain it) match.
            if item.kind == "named":
                return self._named_hosts(item.value, client, depth)
            return False
        if item.kind == "named":
            if item.value == client:
                return True
            return self._named_hosts(item.value, client, depth)
        if item.kind in ("address", "network"):
            return self._network_item(item, client)
        return None  # host names, wildcards, regexes, lookups depend on the host

    def _named_hosts(self, name: str, client: str, depth: int) -> Tri:
        if client in (AUTHENTICATED, ANYONE) and name in self.client_tables:
            return False  # "anyone" is a host outside every trusted table, by definition
        items = self.named_items(name)
        if items is None or depth > 8:
            return None
        items = tuple(i for i in items if i.kind != "option")
        if client not in (LOCAL_CLIENT, AUTHENTICATED, ANYONE) and name in self.client_tables:
            return None  # two different trusted tables: they may overlap
        return match_list(items, lambda sub: self._host_item(sub, client, depth + 1))

    def _network_item(self, item: ListItem, client: str) -> Tri:
        network = ipaddress.ip_network(item.value, strict=False)
        if network.prefixlen == 0:
            return None  # 0.0.0.0/0 or ::/0 covers all of one family only
        if client in (AUTHENTICATED, ANYONE):
            # Outside every trusted table, but possibly inside this network: a
            # deny for listed hosts must be reported, not taken as never firing.
            return None
        members = self.client_networks(client)
        if members is None:
            return None
        if all(m.version == network.version and m.subnet_of(network) for m in members):  # type: ignore[arg-type]
            return True
        if all(not m.overlaps(network) for m in members):
            return False
        return None

    def client_networks(self, table: str) -> list[Network] | None:
        """The networks of a client table, when every item is a plain address."""
        items = self.named_items(table)
        if items is None:
            return None
        networks = [ipaddress.ip_network(i.value, strict=False) for i in items if i.kind in ("address", "network")]
        return networks if networks else None
