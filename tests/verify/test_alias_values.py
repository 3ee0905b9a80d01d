"""exim's own aliases values against the real daemons: exim 4.100 on the fixture, smtpd 7.9 on its translated copy.

``fixtures/aliases-exim-values`` is exim's default configuration (``require
verify = recipient`` for the internet) with an /etc/aliases holding
``:blackhole:``, ``:fail:``, ``:defer:``, ``:unknown:``, an ``:include:`` list
and a ``:fail:`` after an address. Both daemons are asked the same RCPT from a
client on the internet: exim with ``-bh`` (and ``-bt`` for the route), smtpd
through verify's harness, in private namespaces. smtpd given exim's file itself
answers the special values with a temporary failure: that is what the copy fixes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migrate.commands.convert import Result, convert
from migrate.verify import DIFFERS, NOT_COMPARABLE, SAME, compare, exim_side, smtpd_side, verify
from migrate.verify.cases import Case
from migrate.verify.exim_side import Answer
from migrate.verify.oracle import dns_free_config
from tests.conftest import FIXTURES, Exim, readable

FIXTURE = FIXTURES / "aliases-exim-values"
ANYONE = "198.18.0.77"  # outside every list: the RCPT ACL runs verify = recipient
KEYS = ("spamtrap", "jdoe", "movers", "ghost", "team", "mixed", "root", "webmaster", "nosuch")


def _converted() -> Result:
    return convert(str(FIXTURE / "configure"), root=str(FIXTURE / "root"), platform="linux")


def _server_files(tmp_path: Path) -> tuple[Path, Path]:
    """The server's aliases and :include: list where both daemons read them here (exim's user too).

    The file names the list by its path on the server (/etc/exim/team.list); here the daemons' /etc is the
    system root's, so both files name the copy of the list instead, the same for both.
    """
    tmp_path.mkdir()
    team = tmp_path / "team.list"
    shutil.copy(FIXTURE / "root/etc/exim/team.list", team)
    aliases = tmp_path / "aliases"
    aliases.write_text((FIXTURE / "root/etc/aliases").read_text().replace("/etc/exim/team.list", str(team)))
    readable(tmp_path)
    return aliases, team


def _cases() -> list[Case]:
    return [Case(ANYONE, f"{key}@example.org", "anyone", "alias") for key in KEYS]


def _exim(exim: Exim, tmp_path: Path, aliases: Path, cases: list[Case]) -> dict[str, Answer]:
    spool = tmp_path / "spool"
    spool.mkdir(parents=True)
    tmp_path.chmod(0o755)  # exim -bh reads its configuration as the exim user
    spool.chmod(0o1777)
    conf = dns_free_config(FIXTURE / "configure", {}, tmp_path / "exim.conf", {"/etc/aliases": str(aliases)}, spool)
    answers = exim_side.ask(str(exim.binary), conf, {}, cases)
    return {case.recipient.split("@")[0]: answer for case, answer in answers.items()}


def _smtpd(smtpd: str, tmp_path: Path, converted: Result, copy: str, cases: list[Case]) -> dict[str, Answer]:
    files = {**converted.files, "translated_aliases": copy}
    answers = smtpd_side.ask(smtpd, converted.files["smtpd.conf"], cases, tmp_path, None, files)
    return {case.recipient.split("@")[0]: answer for case, answer in answers.items()}


@pytest.mark.exim
def test_smtpd_answers_the_translated_values_as_exim_answers_its_own(
    exim: Exim, smtpd: str, namespaces: None, shared_tmp: Path
) -> None:
    aliases, team = _server_files(shared_tmp / "server")
    cases = _cases()
    converted = _converted()
    copy = converted.files["translated_aliases"].replace("/etc/exim/team.list", str(team))
    theirs = _exim(exim, shared_tmp / "exim", aliases, cases)
    ours = _smtpd(smtpd, shared_tmp / "smtpd", converted, copy, cases)
    said = {key: ((theirs[key].code, theirs[key].text), (ours[key].code, ours[key].text)) for key in KEYS}

    # :blackhole:: exim takes the message and discards it; smtpd takes it for /dev/null
    assert theirs["spamtrap"].code == 250 and ours["spamtrap"].code == 250, said
    # :fail: TEXT: refused at RCPT with exim's text, by both
    assert (theirs["jdoe"].code, theirs["jdoe"].text) == (550, "Jane Doe has left the company")
    assert (ours["jdoe"].code, ours["jdoe"].text) == (550, "Jane Doe has left the company: <jdoe@example.org>")
    # :defer: TEXT: a temporary failure with exim's text (its comma escaped in the copy), by both
    assert (theirs["movers"].code, theirs["movers"].text) == (451, "mailbox being moved, try again later")
    assert (ours["movers"].code, ours["movers"].text) == (
        451,
        "mailbox being moved, try again later: <movers@example.org>",
    )
    # :unknown:: exim's next router has no such user; smtpd, without the key, has none either
    assert theirs["ghost"].code == 550 and ours["ghost"].code == 550, said
    # a :fail: after an address: exim refuses at RCPT; left out of the copy, smtpd refuses it as unknown
    assert (theirs["mixed"].code, theirs["mixed"].text) == (550, "no longer here")
    assert (ours["mixed"].code, ours["mixed"].text) == (550, "Invalid recipient: <mixed@example.org>")
    # ordinary aliases and an :include: list of addresses: accepted by both, sent on to admin@example.net
    for key in ("root", "webmaster", "team"):
        assert theirs[key].code == 250 and ours[key].code == 250, said
        assert "outbound" in ours[key].routes, said
    assert theirs["nosuch"].code == 550 and ours["nosuch"].code == 550, said

    verdicts = {}
    for key, case in zip(KEYS, cases, strict=True):
        verdicts[key] = compare(converted.policy, case, theirs[key], ours[key]).verdict
    assert verdicts == {key: NOT_COMPARABLE if key == "movers" else SAME for key in KEYS}  # exim deferred movers


@pytest.mark.exim
def test_exims_own_file_is_what_smtpd_cannot_read(smtpd: str, namespaces: None, shared_tmp: Path) -> None:
    """The bug the copy fixes: smtpd 7.9 given exim's file itself defers every special value (424 4.2.4)."""
    aliases, _ = _server_files(shared_tmp / "server")
    cases = [c for c in _cases() if c.recipient.split("@")[0] in ("spamtrap", "jdoe", "movers", "root")]
    ours = _smtpd(smtpd, shared_tmp / "smtpd", _converted(), aliases.read_text(), cases)
    for key in ("spamtrap", "jdoe", "movers"):
        assert (ours[key].code, ours[key].text) == (424, f"4.2.4 Mailing list expansion problem: <{key}@example.org>")
    assert ours["root"].code == 250


@pytest.mark.exim
def test_verify_asks_about_the_aliases_of_a_translated_file(exim: Exim, smtpd: str, namespaces: None) -> None:
    result = verify(str(FIXTURE / "configure"), root=str(FIXTURE / "root"), exim=str(exim.binary), smtpd=smtpd)
    assert not [o for o in result.outcomes if o.verdict == DIFFERS]
    # exim -bt's "mail to spamtrap@... is discarded" is an answer too (accepted), from the socket as well
    assert not [o for o in result.outcomes if o.verdict == NOT_COMPARABLE], [
        (o.case.client, o.case.recipient, o.reason) for o in result.outcomes if o.verdict == NOT_COMPARABLE
    ]
    asked = {o.case.recipient.split("@")[0] for o in result.outcomes if o.case.recipient_class == "alias"}
    assert {"spamtrap", "jdoe"} <= asked
