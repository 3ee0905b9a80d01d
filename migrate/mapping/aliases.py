"""The system aliases file as smtpd's aliases(5) reads it: exim's own values translated into a copy.

exim's redirect router understands values in an aliases file that smtpd does
not: ``:blackhole:``, ``:fail: TEXT``, ``:defer: TEXT`` and ``:unknown:``. The
real smtpd 7.9 answers an entry holding one with "424 4.2.4 Mailing list
expansion problem", so mail exim discarded or refused at once would wait in the
sender's queue and bounce days later. A file with such values becomes a copy
beside smtpd.conf, each value translated to what the real daemons were seen to
answer at RCPT (exim 4.100 with ``verify = recipient``, smtpd 7.9):

- ``:blackhole:`` anywhere in a value: exim discards the message, for every
  address of the value; smtpd's ``/dev/null`` takes it and keeps nothing.
- ``:fail: TEXT`` first: exim "550 TEXT"; smtpd's ``error:550 TEXT`` the same.
- ``:defer: TEXT`` first: exim "451 TEXT"; smtpd's ``error:451 TEXT`` the same.
- ``:unknown:`` alone: the router declines and exim's next routers (the local
  users) decide; with no entry smtpd does the same. Beside addresses exim
  ignores it, and so it is dropped from the list.
- an item the router does not permit (``:fail:`` without ``allow_fail``,
  ``:defer:`` without ``allow_defer``, ``forbid_blackhole``, ``forbid_include``):
  exim defers the address, "451 Temporary local problem - please try later".

On a forward-only action smtpd defers both ``/dev/null`` and ``error:`` values
("451 Temporary failure"), so there a ``:fail:`` key gets no entry (smtpd
refuses it as an unknown recipient) and a ``:blackhole:`` cannot be kept.

What cannot be expressed (``:fail:`` or ``:defer:`` after addresses, where exim
delivers to those and refuses the rest; an ``:include:`` file holding exim's
values) is left out and reported; never is a value made more permissive than
exim's. A file holding none of these values is read as it is, as before.
exim does not expand what a lookup returns: ``${...}`` in the file is text to
both daemons, and is copied as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate import rules
from migrate.errors import Span
from migrate.lookups import lsearch_lines
from migrate.mapping.context import Context
from migrate.mapping.routing import Delivery
from migrate.model import Table
from migrate.reader.tree import Driver

COPY = "translated_aliases"  # the copy's file name beside smtpd.conf (never the platform's own aliases file)
SPECIALS = (":blackhole:", ":unknown:", ":include:", ":fail:", ":defer:")
NOT_PERMITTED = "Temporary local problem - please try later"  # exim's answer when the router forbids the item
# What the copy holds for a key left out where smtpd would otherwise deliver to a system user of that name:
# smtpd's own words for an unknown recipient.
REFUSED = "error:550 Invalid recipient"
BLANK_KEY = "a key with blanks or quotes, which smtpd's table cannot hold"
WHY = {  # what a translation means, where its arrow does not say it
    ":unknown: → no entry": ", so that smtpd goes on to its local users as exim went on to its next routers",
    ":unknown: beside addresses → dropped": " (exim ignores it there)",
    ":fail: on a forward-only action → no entry": " (smtpd defers an error: value there; a missing key it refuses)",
    ":fail: the router does not permit → error:451": " (without allow_fail exim defers the address)",
    ":defer: the router does not permit → error:451": " (without allow_defer exim defers the address)",
    ":blackhole: the router does not permit → error:451": " (with forbid_blackhole exim defers the address)",
    ":include: the router does not permit → error:451": " (with forbid_include exim defers the address)",
}


@dataclass(frozen=True)
class Permits:
    """Which special items the redirect router lets the aliases use (exim defers the others)."""

    fail: bool
    defer: bool
    blackhole: bool
    include: bool


@dataclass(frozen=True)
class Entry:
    """One key of the aliases file and what the copy holds for it."""

    key: str
    line: int
    value: str | None  # the copy's value; None: no entry for the key
    change: str = ""  # how exim's value was translated ("" when copied as it is)
    left_out: str = ""  # why exim's value cannot be expressed (unmapped)


def alias_table(ctx: Context, path: str, span: Span, local: Delivery) -> Table:
    """The ``aliases`` table: exim's file itself, or its translated copy when it holds exim's own values."""
    same = Table("aliases", "aliases", file=path, origin=(span,))
    router = next((d for d in local.drivers if (o := d.option("data")) is not None and o.span == span), None)
    try:
        text = ctx.store.read(path)
    except OSError:
        return same  # read where smtpd runs, as it is (verify names a missing file)
    if router is None:
        return same
    entries = translate(ctx, text, permits(router), local.method != "forward-only")
    if all(not e.change and not e.left_out for e in entries):
        return same
    _book(ctx, path, router, text, entries)
    return Table(
        "aliases",
        "aliases",
        mapping=tuple((e.key, e.value) for e in entries if e.value is not None),
        file=ctx.table_file(COPY),
        origin=(span,),
        generated=True,
        sources=(path,),
    )


def permits(router: Driver) -> Permits:
    """allow_fail, allow_defer (off by default), forbid_blackhole, forbid_include (off by default)."""

    def on(name: str) -> bool:
        option = router.option(name)
        return option is not None and option.bool_value is True

    return Permits(on("allow_fail"), on("allow_defer"), not on("forbid_blackhole"), not on("forbid_include"))


def translate(ctx: Context, text: str, allowed: Permits, delivers: bool) -> list[Entry]:
    """Every key of the file (the first line of each, as exim's lsearch takes it), in file order.

    ``delivers``: the local action delivers (mbox, maildir, lmtp, mda); False for forward-only.
    """
    found: list[Entry] = []
    seen: set[str] = set()
    for line, key, data in lsearch_lines(text):
        lowered = key.lower()  # lsearch matches keys without regard to case; smtpd's table does not
        if lowered in seen:
            continue
        seen.add(lowered)
        if any(c.isspace() or c == '"' for c in key):
            found.append(Entry(lowered, line, None, left_out=BLANK_KEY))
            continue
        value, change, left_out = _value(ctx, data, allowed, delivers)
        if left_out and delivers:
            value = REFUSED  # no entry would let smtpd deliver to a system user of that name
        found.append(Entry(lowered, line, value, change, left_out))
    return found


def _value(ctx: Context, data: str, allowed: Permits, delivers: bool) -> tuple[str | None, str, str]:
    """The copy's value for exim's ``data``: (value or None for no entry, how it changed, why it cannot be)."""
    items = redirect_items(data)
    if not items:
        return None, "", ""  # no data: the router declines, as for a key the file lacks
    words = [_special(item) for item in items]
    later = next((w for w in words[1:] if w in (":fail:", ":defer:")), None)
    if later is not None:
        done = "refused" if later == ":fail:" else "deferred"
        return None, "", f"{later} after other items (exim delivered to those and {done} the rest)"
    first = words[0]
    if first in (":fail:", ":defer:"):
        return _refusal(first, items[0][len(first) :], allowed, delivers)
    if ":blackhole:" in words:
        if not allowed.blackhole:
            return _not_permitted(":blackhole:")
        if not delivers:
            return None, "", ":blackhole: on a forward-only action, where smtpd defers /dev/null (it cannot discard)"
        return "/dev/null", ":blackhole: → /dev/null", ""
    kept = [item for item, word in zip(items, words, strict=True) if word != ":unknown:"]
    for item in kept:
        if _special(item) != ":include:":
            continue
        if not allowed.include:
            return _not_permitted(":include:")
        included = item[len(":include:") :].strip()
        if _holds_specials(ctx, included):
            return None, "", f":include:{included}, a file holding values only exim understands"
    if not kept:
        return None, ":unknown: → no entry", ""
    if len(kept) < len(items):
        return ", ".join(kept), ":unknown: beside addresses → dropped", ""
    return data, "", ""


def _refusal(word: str, text: str, allowed: Permits, delivers: bool) -> tuple[str | None, str, str]:
    """``:fail: TEXT`` (550) or ``:defer: TEXT`` (451) as smtpd's ``error:`` value."""
    if not (allowed.fail if word == ":fail:" else allowed.defer):
        return _not_permitted(word)
    if word == ":defer:":
        return error_value("451", text, "Temporary failure"), ":defer: → error:451 with exim's text", ""
    if not delivers:  # smtpd defers an error: value on a forward-only action; a key it lacks it refuses
        return None, ":fail: on a forward-only action → no entry", ""
    return error_value("550", text, "Invalid recipient"), ":fail: → error:550 with exim's text", ""


def _not_permitted(word: str) -> tuple[str, str, str]:
    """An item the router forbids: exim defers the address."""
    change = f"{word} the router does not permit → error:451"
    return error_value("451", NOT_PERMITTED, ""), change, ""


def error_value(code: str, text: str, default: str) -> str:
    """smtpd's ``error:CODE TEXT``, as its aliases parser takes it.

    smtpd splits a value at commas and reads a backslash as escaping the next
    character (so ``\\,`` ``\\"`` ``\\\\`` keep exim's text whole), and takes
    an error only when its text starts with a letter or digit: other texts get
    an enhanced status code in front (``5.0.0``, ``4.0.0``).
    """
    text = text.strip() or default
    if not (text[:1].isascii() and text[:1].isalnum()):
        text = f"{code[0]}.0.0 {text}"
    escaped = "".join(f"\\{c}" if c in '\\,"' else c for c in text)
    return f"error:{code} {escaped}"


def redirect_items(data: str) -> list[str]:
    """The items of a redirection list as exim's parse_forward_list reads them.

    Items are separated by commas outside quotes, comments and angle brackets;
    ``:fail:`` and ``:defer:`` take the rest of the value as their text, commas
    included.
    """
    items: list[str] = []
    rest = data
    while True:
        rest = rest.lstrip(" \t\n,")
        if not rest:
            return items
        if rest.startswith((":fail:", ":defer:")):
            items.append(rest.rstrip())
            return items
        end = _item_end(rest)
        if rest[:end].strip():
            items.append(rest[:end].strip())
        rest = rest[end:]


def _item_end(text: str) -> int:
    """Where the item at the start of ``text`` ends: at a comma outside quotes, comments and <...>."""
    index, angle, length = 0, 0, len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            close = text.find('"', index + 1)
            index = length if close < 0 else close + 1
            continue
        if char == "(":
            depth = 1
            index += 1
            while index < length and depth:
                depth += {"(": 1, ")": -1}.get(text[index], 0)
                index += 2 if text[index] == "\\" else 1
            continue
        if char == "," and angle <= 0:
            return index
        angle += {"<": 1, ">": -1}.get(char, 0)
        index += 1
    return length


def _special(item: str) -> str:
    """The special item an item is (exim compares them case for case), or ""."""
    return next((word for word in SPECIALS if item.startswith(word)), "")


def _holds_specials(ctx: Context, path: str) -> bool:
    """An :include: file (read under --root) with exim's special items: smtpd's :include: would not read them.

    A file that cannot be read here is smtpd's to read where it runs, as it is.
    """
    try:
        text = ctx.store.read(path)
    except OSError:
        return False
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return any(_special(item) for line in lines for item in redirect_items(line))


def _book(ctx: Context, path: str, router: Driver, text: str, entries: list[Entry]) -> None:
    """One approximated finding on the router (the report lists whole statements), one unmapped per key left out."""
    changes: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.change:
            changes.setdefault(entry.change, []).append(entry)
    left = [e for e in entries if e.left_out]
    parts = [f"{change} for {_keys(found)}{WHY.get(change, '')}" for change, found in changes.items()]
    if left:
        parts.append(f"left out, so that smtpd refuses them as unknown recipients: {_keys(left)}")
    count = sum(len(found) for found in changes.values())
    ctx.ledger.note_span(
        router.span,
        "approximated",
        rules.ALIASES_EXIM_VALUES,
        f"router {router.name}: aliases file {path}: {count} exim value(s) translated into a copy smtpd reads "
        f"({ctx.table_file(COPY)}): " + "; ".join(parts),
        router.source,
    )
    lines = text.splitlines()
    for entry in left:
        source = lines[entry.line - 1] if entry.line <= len(lines) else ""
        instead = (
            f"the copy holds '{entry.key} {REFUSED}' instead, so that a system user of that name does not get it"
            if entry.value is not None
            else "no entry in the copy"
        )
        ctx.ledger.note_span(
            Span(path, entry.line, 1, entry.line, max(len(source), 1)),
            "unmapped",
            rules.ALIASES_VALUE_LEFT_OUT,
            f"aliases file {path}:{entry.line}: {entry.key}: {entry.left_out}: left out, smtpd refuses "
            f"{entry.key}@ as an unknown recipient ({instead})",
            source,
        )


def _keys(entries: list[Entry]) -> str:
    """``jdoe (line 10), ...``: the first few keys with their lines."""
    shown = ", ".join(f"{e.key} (line {e.line})" for e in entries[:4])
    return shown + (f" and {len(entries) - 4} more" if len(entries) > 4 else "")
