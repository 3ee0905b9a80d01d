"""The HTML report: one page a reviewer reads in a browser or on paper, nothing left out, nothing leaked.

The page is rendered for real fixtures and read back with the standard
library's HTML parser; a real headless chromium then draws it, and the
screenshot is decoded here (zlib, no image library) to prove it is not blank.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from migrate.commands.convert import Result, convert
from migrate.model import MatchRule
from migrate.report.formats import GRADE_REASONS, render
from migrate.report.html import NOT_VERIFIED, to_html
from tests.conftest import FIXTURES, IN_CI, Exim

MARK = "hunter2"  # every secret in fixtures/secrets contains it


def _escaped(text: str) -> str:
    """Text as Jinja's autoescape writes it (markupsafe: ' is &#39;)."""
    return str(escape(text))


def _convert(case: str) -> Result:
    root = FIXTURES / case / "root"
    return convert(str(FIXTURES / case / "configure"), root=str(root) if root.is_dir() else "/")


def _page(result: Result, verify: dict[str, Any] | None = None) -> str:
    return to_html(result.report, verify, policy=result.policy, rendered=result.rendered)


class _Tables(HTMLParser):
    """Every table of a page by class: its header cells and, per body row, (cell class, cell text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}
        self._stack: list[list[list[tuple[str, str]]]] = []
        self._cell: list[str] | None = None
        self._class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag == "table":
            self._stack.append(self.tables.setdefault(classes, []))
        elif tag == "tr" and self._stack:
            self._stack[-1].append([])
        elif tag in ("td", "th") and self._stack and self._cell is None:
            self._cell, self._class = [], classes

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._stack:
            self._stack.pop()
        elif tag in ("td", "th") and self._cell is not None and self._stack:
            self._stack[-1][-1].append((self._class, " ".join(" ".join(self._cell).split())))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(page: str) -> dict[str, list[list[tuple[str, str]]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def _matrix(page: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(client row, recipient column) -> (the cell's class, its text)."""
    head, *rows = _tables(page)["matrix"]
    columns = [text for _, text in head[1:]]
    return {(row[0][1], column): cell for row in rows for column, cell in zip(columns, row[1:], strict=True)}


def _outcome(client_class: str, recipient_class: str, exim: int, smtpd: int, verdict: str, **more: Any) -> dict:
    """One outcome as ``exim2smtpd verify --json`` writes it (migrate/cli/verify_view.py to_json)."""
    case = {
        "client": more.pop("client", "198.18.0.77"),
        "recipient": more.pop("recipient", "someone@elsewhere.example"),
        "client_class": client_class,
        "recipient_class": recipient_class,
        "authenticated": False,
        "sender": "probe@probe.example",
        "note": "",
        "login": "",
        "password": more.pop("password", ""),
        "port": 0,
    }
    answer = {"routes": [], "decided_by_commands": False, "unroutable": False}
    return {
        "case": case,
        "exim": {**answer, "code": exim, "text": more.pop("exim_text", "relay not permitted"), "route": None},
        "smtpd": {**answer, "code": smtpd, "text": "accepted", "route": "outbound" if smtpd == 250 else None},
        "verdict": verdict,
        "reason": more.pop("reason", ""),
        "regression": more.pop("regression", False),
    }


def _verify(*outcomes: dict, notes: tuple[str, ...] = ()) -> dict[str, Any]:
    counts = {v: sum(o["verdict"] == v for o in outcomes) for v in ("same", "differs", "not comparable")}
    return {"counts": counts, "return_code": 2 if counts["differs"] else 0, "notes": list(notes), "outcomes": outcomes}


# -- the header and the services ----------------------------------------------------------


def test_header_names_version_input_platform_and_grade() -> None:
    result = _convert("ldap-auth")
    page = _page(result)
    facts = {row[0][1]: row[1][1] for row in _tables(page)["facts"]}
    assert facts["input"] == result.policy.given
    assert facts["platform"] == "OpenBSD 7.9 (--platform openbsd)"
    assert facts["tool"].startswith("exim2smtpd ")
    assert result.report.grade == "C"
    assert _escaped(GRADE_REASONS["C"]) in page
    assert "1 service(s) exim provided would be lost: authenticated submission (SMTP AUTH)" in page


def test_a_lost_service_comes_first_marked_lost_with_its_lines_and_steps() -> None:
    result = _convert("ldap-auth")
    lost = result.report.lost[0]
    rows = _tables(_page(result))["services"][1:]
    title, mark, why, lines, steps = (text for _, text in rows[0])
    assert (title, mark, why) == (lost.service.title, "LOST", lost.why)
    assert "configure:76" in lines and "ldap_plain:" in lines
    assert lost.steps and all(" ".join(step.split()) in steps for step in lost.steps)
    assert [text for _, text in rows[1][1:2]] == ["kept"]
    assert "Do not switch over: 1 service exim provided would be LOST" in _page(result)


# -- findings -----------------------------------------------------------------------------


def test_every_finding_shows_its_rule_exim_text_and_output_lines_in_full() -> None:
    result = _convert("article-mx")
    page = _page(result)
    assert result.report.findings()
    for entry in result.report.findings():
        for text in (entry.rule.id, str(entry.span), entry.message, entry.advice, entry.source):
            assert _escaped(text) in page, text
        for target in entry.targets:
            name, _, number = target.rpartition(":")
            line = result.files[name].splitlines()[int(number) - 1]
            assert f'<td class="at">{target}</td><td><pre>{_escaped(line)}' in page
    retry = next(e for e in result.report.findings() if e.rule.id == "EXIM-RETRY")
    block = page[page.index(f">{retry.rule.id}<") :]
    assert "queue ttl 4d" in block[: block.index("</dl>")]


def test_findings_are_grouped_by_section() -> None:
    result = _convert("article-mx")
    page = _page(result)
    sections = list(dict.fromkeys(e.section for e in result.report.findings()))
    assert len(sections) > 1
    for section in sections:
        count = sum(e.section == section for e in result.report.findings())
        assert f'<h3>{section} <span class="at">({count})</span></h3>' in page


def test_every_statement_is_listed_untruncated() -> None:
    result = _convert("article-mx")
    rows = _tables(_page(result))["statements"][1:]
    assert len(rows) == len(result.report.entries)
    sources = [text for row in rows for cls, text in row if cls == "src"]
    for entry in result.report.entries:
        assert " ".join(entry.source.split()) in sources


def test_no_secret_reaches_the_page() -> None:
    result = _convert("secrets")
    leaking = _outcome(
        "authenticated",
        "other-domains",
        550,
        550,
        "same",
        password=MARK,
        exim_text=f"lookup failed: servers=db/mail/{MARK}",
    )
    for page in (
        _page(result),
        _page(result, _verify(leaking, notes=(f"pass={MARK} left out",))),
        render(result.report, "html"),
    ):
        assert MARK not in page
        assert "&lt;hidden&gt;" in page


# -- the matrix -----------------------------------------------------------------------------


def test_a_verified_difference_is_highlighted_in_its_cell() -> None:
    verify = _verify(
        _outcome("anyone", "other-domains", 550, 250, "differs", regression=True, reason="SECURITY REGRESSION"),
        _outcome("anyone", "local-domains", 250, 250, "same", recipient="postmaster@example.com"),
        _outcome("local", "local-domains", 250, 550, "differs", client="socket", reason="mail would be lost"),
    )
    page = _page(_convert("ldap-auth"), verify)
    matrix = _matrix(page)
    assert matrix["outside", "outside"][0] == "c-regression"
    assert "exim refuses (550) smtpd accepts (250) via action outbound" in matrix["outside", "outside"][1]
    assert matrix["outside", "local domain"][0] == "c-same"
    assert matrix["local socket", "local domain"][0] == "c-differs"
    assert matrix["local socket", "outside"][0] == "c-none"
    assert "verified: the real exim and the real smtpd" in page and NOT_VERIFIED not in page
    cases = _tables(page)["cases"][1:]
    assert [row[1][1] for row in cases] == ["someone@elsewhere.example", "someone@elsewhere.example"]


def test_every_uncomparable_case_is_named() -> None:
    reason = "inherent difference: <smtpd> refuses unknown local users at RCPT"
    verify = _verify(
        *(
            _outcome(
                "anyone", "local-domains", 250, 550, "not comparable", recipient=f"u{n}@example.com", reason=reason
            )
            for n in range(40)
        )
    )
    page = _page(_convert("ldap-auth"), verify)
    assert _escaped(reason) in page and reason not in page
    for n in range(40):
        assert f"u{n}@example.com" in page
    assert _matrix(page)["outside", "local domain"][0] == "c-not-comparable"


def test_without_verify_the_matrix_is_the_conversions_and_says_so() -> None:
    result = _convert("article-mx")
    page = _page(result)
    assert NOT_VERIFIED in page
    matrix = _matrix(page)
    assert matrix["outside", "outside"][0] == "c-same"
    assert "exim refuses smtpd refuses" in matrix["outside", "outside"][1]
    assert "accepts via action relay_domains" in matrix["outside", "relayed domain"][1]
    assert {cls for cls, _ in matrix.values()} == {"c-same"}


def test_an_open_relay_in_the_conversions_rules_is_a_regression_cell() -> None:
    result = _convert("article-mx")
    open_relay = MatchRule("any", None, "any", None, "outbound")
    policy = replace(result.policy, rules=(open_relay, *result.policy.rules))
    page = to_html(result.report, policy=policy, rendered=result.rendered)
    matrix = _matrix(page)
    assert matrix["outside", "outside"][0] == "c-regression"
    assert matrix["relay net relay_from_hosts", "outside"][0] == "c-same"


def test_per_port_policies_get_a_row_per_port() -> None:
    matrix = _matrix(_page(_convert("per-port-submission")))
    assert matrix["authenticated, port 587", "outside"][0] == "c-same"
    assert "exim accepts" in matrix["authenticated, port 587", "outside"][1]
    assert "exim refuses" in matrix["authenticated, port 25", "outside"][1]


def test_the_report_alone_renders_without_matrix_or_platform() -> None:
    result = _convert("ldap-auth")
    page = render(result.report, "html")
    assert "No decision matrix" in page
    assert "not given to the HTML report" in page
    assert "LOST" in page


# -- the page itself --------------------------------------------------------------------------


def test_everything_is_escaped_and_nothing_is_fetched() -> None:
    verify = _verify(_outcome("anyone", "other-domains", 550, 550, "differs", reason="<script>alert(1)</script>"))
    page = _page(_convert("article-mx"), verify)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    for external in ("<link", " src=", "href=", "@import", "url("):
        assert external not in page


def test_the_same_input_gives_the_same_page() -> None:
    assert _page(_convert("article-mx")) == _page(_convert("article-mx"))


@pytest.mark.exim
def test_a_real_verify_result_of_an_open_relay_is_highlighted(
    exim: Exim, smtpd: str, namespaces: None, tmp_path: Path
) -> None:
    from migrate.cli.verify_view import to_json
    from migrate.verify import verify

    result = _convert("ldap-auth")
    text = result.files["smtpd.conf"]
    first = text.index("\nmatch ") + 1
    (tmp_path / "smtpd.conf").write_text(text[:first] + 'match from any for any action "outbound"\n' + text[first:])
    checked = verify(
        str(FIXTURES / "ldap-auth" / "configure"),
        str(tmp_path),
        root=str(FIXTURES / "ldap-auth" / "root"),
        exim=str(exim.binary),
        smtpd=smtpd,
    )
    page = _page(result, json.loads(to_json(checked)))
    assert _matrix(page)["outside", "outside"][0] == "c-regression"
    assert "SECURITY REGRESSION" in page


# -- a real browser ------------------------------------------------------------------------------


def _chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        if IN_CI:
            pytest.fail("chromium is missing; under CI=true that is a failure (run `make test-deps`)")
        pytest.skip("chromium is missing (run `make test-deps`)")  # only outside CI: CI=true fails above
    return binary


def _browse(binary: str, tmp_path: Path, page: Path, *args: str) -> str:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    command += [f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pixels(png: bytes) -> tuple[int, int, list[list[bytes]]]:
    """Width, height and the RGB pixels, row by row, of an 8-bit PNG: its chunks, zlib, then the row filters."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, header = 8, b"", b""
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + size]
        header = body if kind == b"IHDR" else header
        data += body if kind == b"IDAT" else b""
        pos += 12 + size
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)  # RGB or RGBA
    step = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(data), width * step
    rows, previous = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        previous = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], previous, step)
        rows.append([previous[x : x + 3] for x in range(0, stride, step)])
    return width, height, rows


def _unfilter(kind: int, line: bytes, up: bytes, step: int) -> bytes:
    """Undo one row's PNG filter (none, sub, up, average, paeth) against the row above."""
    if kind == 0:
        return line
    if kind == 2:
        return bytes((a + b) & 255 for a, b in zip(line, up, strict=True))
    out = bytearray(line)
    for i in range(len(out)):
        left = out[i - step] if i >= step else 0
        above = up[i]
        if kind == 1:
            guess = left
        elif kind == 3:
            guess = (left + above) >> 1
        else:  # paeth: whichever of left, above and corner is nearest to left + above - corner
            corner = up[i - step] if i >= step else 0
            far_left, far_above, far_corner = abs(above - corner), abs(left - corner), abs(left + above - 2 * corner)
            guess = (
                left
                if far_left <= far_above and far_left <= far_corner
                else above
                if far_above <= far_corner
                else corner
            )
        out[i] = (out[i] + guess) & 255
    return bytes(out)


def test_chromium_draws_the_page(tmp_path: Path) -> None:
    binary = _chromium()
    page = tmp_path / "report.html"
    page.write_text(_page(_convert("ldap-auth")))
    shot = tmp_path / "report.png"
    _browse(binary, tmp_path, page, f"--screenshot={shot}", "--window-size=1280,2000")
    width, height, rows = _pixels(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    pixels = [pixel for row in rows[::4] for pixel in row[::4]]
    inked = sum(p != b"\xff\xff\xff" for p in pixels)
    assert inked > len(pixels) // 20  # text, tables and colour, not a blank page
    reddish = sum(p[0] > 200 and p[0] - p[2] > 12 and p[0] - p[1] > 12 for p in pixels)
    assert reddish > 100  # the LOST row, the banner and the grade are drawn in red
    dom = _browse(binary, tmp_path, page, "--dump-dom")
    tables = _tables(dom)
    assert "services" in tables and tables["services"][1][1][1] == "LOST"
    assert "matrix" in tables
