"""The router shapes control panels write for hosted domains, read as lookups smtpd's virtual table can hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.lookups import MemoryStore
from migrate.mapping import hosted
from migrate.reader import read_config
from migrate.reader.tree import Driver

GUARDED = (
    "${if exists{/etc/virtual/${domain_data}/aliases}"
    "{${lookup{$local_part}lsearch{/etc/virtual/${domain_data}/aliases}}}}"
)


def _router(tmp_path: Path, *options: str, driver: str = "redirect") -> Driver:
    body = "\n".join(f"  {o}" for o in options)
    configure = tmp_path / "configure"
    configure.write_text(f"begin routers\nr:\n  driver = {driver}\n{body}\n")
    return read_config(str(configure), {}).routers[0]


def test_a_guarded_per_domain_file_is_an_optional_source(tmp_path: Path) -> None:
    source = hosted.alias_source(_router(tmp_path, f"data = {GUARDED}"))
    assert source is not None and source.optional and source.per_domain
    assert source.file("example.com") == "/etc/virtual/example.com/aliases"
    store = MemoryStore({"/etc/virtual/example.com/aliases": "info: anna@example.com\n"})
    assert hosted.domain_keys(source, "example.com", store.read).mapping == (("info", "anna@example.com"),)
    assert hosted.domain_keys(source, "example.net", store.read).mapping == ()  # no file: no keys, no error


def test_a_guard_on_another_file_is_not_read_as_the_lookup(tmp_path: Path) -> None:
    other = GUARDED.replace("exists{/etc/virtual/${domain_data}/aliases}", "exists{/etc/virtual/${domain_data}/on}")
    assert hosted.alias_source(_router(tmp_path, f"data = {other}")) is None


def test_an_unguarded_missing_file_is_an_error(tmp_path: Path) -> None:
    data = "${lookup{$local_part}lsearch{/etc/virtual/$domain_data/aliases}}"
    source = hosted.alias_source(_router(tmp_path, f"data = {data}"))
    assert source is not None and not source.optional
    with pytest.raises(FileNotFoundError):
        hosted.domain_keys(source, "example.com", MemoryStore().read)


def test_a_non_empty_value_condition_lists_mailboxes(tmp_path: Path) -> None:
    lookup = GUARDED.replace("aliases", "passwd")
    router = _router(tmp_path, "condition = ${if eq{}{" + lookup + "}{no}{yes}}", driver="accept")
    source = hosted.mailbox_source(router)
    assert source is not None and source.nonempty and source.optional
    store = MemoryStore({"/etc/virtual/example.com/passwd": "anna:$6$x:1001\nempty:\n"})
    assert [k for k, _ in hosted.domain_keys(source, "example.com", store.read).mapping] == ["anna"]
    inverted = _router(tmp_path, "condition = ${if eq{}{" + lookup + "}{yes}{no}}", driver="accept")
    assert hosted.mailbox_source(inverted) is None  # "no value": every local part but those


def test_no_exact_alias_before_a_catch_all_adds_nothing(tmp_path: Path) -> None:
    star = GUARDED.replace("lsearch{", "lsearch*{")
    router = _router(tmp_path, "condition = ${if eq{}{" + GUARDED + "}{yes}{no}}", f"data = {star}")
    assert hosted.redundant_condition(router)
    other = GUARDED.replace("aliases", "forwarders")
    assert not hosted.redundant_condition(
        _router(tmp_path, "condition = ${if eq{}{" + other + "}{yes}{no}}", f"data = {star}")
    )


def test_conditions_decided_by_the_domain_alone(tmp_path: Path) -> None:
    only = _router(tmp_path, "condition = ${if eq{$domain}{$primary_hostname}{yes}{no}}", driver="accept")
    assert hosted.domain_condition(only, "Server1.example.org") == "server1.example.org"
    assert hosted.domain_condition(only, None) is None  # exim's own host name: unknown here
    filtered = _router(tmp_path, "condition = ${if exists{/etc/virtual/${domain_data}/filter}{yes}{no}}")
    assert hosted.exists_condition(filtered) == "/etc/virtual/${domain}/filter"
    assert hosted.exists_condition(_router(tmp_path, "condition = ${if exists{/etc/$local_part}}")) is None


def test_each_domain_delivered_as_its_owner() -> None:
    lookup = hosted.owner_lookup("${lookup{$domain_data}lsearch*{/etc/virtual/domainowners}{$value}}")
    assert lookup == ("lsearch*", "/etc/virtual/domainowners")
    store = MemoryStore({"/etc/virtual/domainowners": "example.com: webuser1\n*: nobody\n"})
    assert hosted.owner_of(lookup, "EXAMPLE.com", store.read) == "webuser1"
    assert hosted.owner_of(lookup, "example.net", store.read) == "nobody"  # lsearch*: the "*" key
    assert hosted.owner_of(("lsearch", lookup[1]), "example.net", store.read) is None


def test_a_per_domain_file_keyed_by_address(tmp_path: Path) -> None:
    """cPanel's /etc/valiases/DOMAIN: full addresses as keys, one file per domain."""
    file = "/etc/valiases/$domain_data"
    data = "${if exists{" + file + "}{${lookup{$local_part@$domain_data}lsearch{" + file + "}}}}"
    source = hosted.alias_source(_router(tmp_path, f"data = {data}"))
    assert source is not None and source.per_domain and source.by_address and source.optional
    store = MemoryStore({"/etc/valiases/shop.example": "info@shop.example: ann@shop.example\n*: ann@shop.example\n"})
    keys = hosted.domain_keys(source, "shop.example", store.read)
    assert keys.mapping == (("info", "ann@shop.example"),) and keys.catch_all is None  # exim looks up info@..., never *


def test_the_star_line_alone_is_a_catch_all(tmp_path: Path) -> None:
    data = "${if exists{/etc/valiases/$domain_data}{${lookup{*}lsearch{/etc/valiases/$domain_data}}}}"
    source = hosted.alias_source(_router(tmp_path, f"data = {data}"))
    assert source is not None and source.lookup_type == hosted.STAR
    store = MemoryStore({"/etc/valiases/shop.example": "info@shop.example: x@shop.example\n*: ann@shop.example\n"})
    assert hosted.domain_keys(source, "shop.example", store.read) == hosted.Keys((), "ann@shop.example")
    store = MemoryStore({"/etc/valiases/shop.example": "info@shop.example: x@shop.example\n"})
    assert hosted.domain_keys(source, "shop.example", store.read) == hosted.Keys((), None)
