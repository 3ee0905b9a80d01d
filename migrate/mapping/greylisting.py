"""Greylisting in exim's ACLs: a temporary refusal that the sender's retry passes (greylistd, SQL, ``seen``).

A greylisting ``defer`` refuses only a first attempt, so for a whole class of
clients it refuses nothing: the class is decided by the statements around it,
and the greylisting itself goes to rspamd's greylist module (``--greylist
rspamd``) or is reported lost. A statement greylists when it says so: its texts
name a greylist (a greylistd socket, a greylist database, a "greylisted"
message) or it tests exim's ``seen`` database; a ``defer`` also when its ACL
is named for greylisting.
"""

from __future__ import annotations

import re

from migrate import rules
from migrate.mapping.ledger import Claim, claim
from migrate.reader.tree import Acl, AclStatement

GREY = re.compile(r"gr[ae]y[-_ ]?list|--grey\b", re.IGNORECASE)


def is_greylisting(statement: AclStatement, acl: Acl) -> bool:
    """A ``defer`` that greylists, or the ``accept`` that lets a retried message through."""
    if statement.verb not in ("defer", "accept"):
        return False
    texts = [c.value.text for c in statement.conditions if c.value is not None]
    if any(c.name == "seen" for c in statement.conditions) or any(GREY.search(t) for t in texts):
        return True
    return statement.verb == "defer" and bool(GREY.search(acl.name))  # an accept there may be an exemption


def statements(acl: Acl) -> list[AclStatement]:
    """The statements of ``acl`` that greylist."""
    return [st for st in acl.statements if is_greylisting(st, acl)]


def finding(statement: AclStatement, greylist: str) -> Claim:
    """What became of a greylisting statement under the ``--greylist`` choice."""
    if greylist == "rspamd":
        return claim(
            statement,
            "approximated",
            rules.GREYLIST_RSPAMD,
            f"{statement.verb}: greylisting becomes rspamd's greylist module, which defers only mail scoring at "
            "least its 'greylist' threshold (actions.conf; rspamd's default is 4), per sender, recipient and client "
            "/19 network, and never mail from logged-in users or rspamd's local networks; exim greylisted every "
            "new sender, recipient and client this statement covered",
            rules.GREYLIST_RSPAMD.advice,
        )
    return claim(
        statement,
        "unmapped",
        rules.GREYLIST_LOST,
        f"{statement.verb}: exim greylisted here; with --greylist off nothing in the output greylists, so a "
        "first attempt exim deferred is accepted at once",
        rules.GREYLIST_LOST.advice,
    )
