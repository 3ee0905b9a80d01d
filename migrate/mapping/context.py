"""What every mapping step shares: the parse tree, the options, the lookup store and the ledger.

Steps are plain functions of a ``Context``; the state one step leaves for a
later one (tables built once, the ACLs the decisions used) lives here, named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from migrate.lookups import LookupStore
from migrate.mapping.ledger import Ledger
from migrate.model import Table
from migrate.platforms import platform as get_platform
from migrate.reader.tree import Acl, AclStatement, EximConfig, NamedList, Statement

if TYPE_CHECKING:
    from migrate.mapping.decisions import ChosenAcls


@dataclass(frozen=True)
class Blocklist:
    """A deny statement smtpd enforces with its host reject rule, and the networks its list names."""

    statement: AclStatement
    named: NamedList
    entries: tuple[str, ...]
    sources: tuple[str, ...] = ()  # the files the entries were read from


@dataclass
class Context:
    """One mapping run."""

    config: EximConfig
    platform: str
    greylist: str
    store: LookupStore
    ledger: Ledger = field(default_factory=Ledger)
    inline_lists: dict[str, NamedList] = field(default_factory=dict)  # lists written inline (accepts, hosted routers)
    lookup_notes: list[str] = field(default_factory=list)  # approximations found while reading lookup files
    sql_tables: dict[str, Table] = field(default_factory=dict)  # domain lists' SQL lookups, by table name
    sql_sources: dict[str, tuple[Statement, ...]] = field(default_factory=dict)  # the list and options of each
    domain_tables: dict[str, Table] = field(default_factory=dict)
    blocklists: list[Blocklist] = field(default_factory=list)  # "deny hosts = <networks>" (mapping.clients)
    used_acls: set[str] = field(default_factory=set)
    hosted_list: str | None = None  # the domain list that is the hosted domains (mapping.tables.hosted_list)
    local_hosted: bool = False  # local_domains is that list: a control panel's per-domain files (tables.hosted_list)
    chosen: ChosenAcls | None = None  # the ACLs the acl_smtp_* options select (mapping.decisions)
    ports: list[int] = field(default_factory=list)  # where exim listens (mapping.listeners), for per-port policy
    port_tags: dict[int, str] = field(default_factory=dict)  # each port's listener tag, where the policy differs
    port_dependent: bool | None = None  # whether exim's answer may differ by port (decisions.depends_on_port)
    acls: dict[str, Acl] = field(init=False)

    def __post_init__(self) -> None:
        self.acls = {a.name: a for a in self.config.acls}

    def table_file(self, name: str) -> str:
        """Where a generated table file goes on the target platform."""
        return f"{get_platform(self.platform).tables_dir}/{name}"

    def named_list(self, name: str) -> NamedList:
        """A named list, or one written inline (a host list in an accept statement, the hosted domains' lookup)."""
        return self.inline_lists.get(name) or self.config.named_lists[name]

    @property
    def blocked(self) -> frozenset[int]:
        """The deny statements smtpd.conf enforces with its host blocklist rule."""
        return frozenset(id(found.statement) for found in self.blocklists)
