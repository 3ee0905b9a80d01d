"""The real exim is the oracle: it must accept what we accept and resolve it as we do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from migrate.reader import format_like_exim, read_config
from migrate.verify import _decided_by_commands
from migrate.verify.cases import Case
from migrate.verify.exim_side import Answer
from migrate.verify.oracle import FAIL, dns_free_config, without_commands
from tests.conftest import FIXTURES, Corpus, Exim

CORPUS = ["internet", "smarthost", "satellite", "local", "internet-split", "template", "upstream-example"]
FIXTURE_RUNS = {
    "article-mx": {},
    "macros-conditionals": {},
    "macros-conditionals-overridden": {"KILO": "20M", "USE_SMTPS": "", "RELAY_NETS": "198.51.100.0/24"},
    "includes-lists": {},
    "includes-lists-with-optional": {"FIXTURE_DIR": str(FIXTURES / "includes-lists")},
    "continuations-tabs": {},
}


def _fixture_path(run: str) -> Path:
    for name in sorted((p.name for p in FIXTURES.iterdir()), key=len, reverse=True):
        if run.startswith(name):
            return FIXTURES / name / "configure"
    raise KeyError(run)


def _assert_same_as_exim(exim: Exim, path: Path, defines: dict[str, str]) -> None:
    config = read_config(str(path), defines)
    assert config.diagnostics == ()
    verdict = exim.run(path, "-bV", defines=defines)
    assert verdict.returncode == 0, verdict.stderr
    printed = exim.run(path, "-bP", "config", defines=defines)
    assert printed.returncode == 0, printed.stderr
    assert format_like_exim(config.resolved_lines) == printed.stdout


@pytest.mark.exim
@pytest.mark.parametrize("name", CORPUS)
def test_debian_corpus_reads_exactly_as_exim(exim: Exim, debian_corpus: Corpus, name: str) -> None:
    _assert_same_as_exim(exim, debian_corpus.files[name], debian_corpus.defines[name])


@pytest.mark.exim
@pytest.mark.parametrize("run", sorted(FIXTURE_RUNS))
def test_fixtures_read_exactly_as_exim(exim: Exim, run: str) -> None:
    _assert_same_as_exim(exim, _fixture_path(run), FIXTURE_RUNS[run])


@pytest.mark.exim
def test_generated_internet_config_has_the_expected_shape(debian_corpus: Corpus) -> None:
    config = read_config(str(debian_corpus.files["internet"]), debian_corpus.defines["internet"])
    assert len(config.files) == 1
    assert len(Path(config.path).read_text().splitlines()) > 900
    assert [r.name for r in config.routers][:3] == ["hubbed_hosts", "dnslookup_relay_to_domains", "dnslookup"]
    relay_nets = config.named_lists["relay_from_hosts"]
    assert [i.value for i in relay_nets.items] == ["192.0.2.0/24", "2001:db8::/32", "127.0.0.1", "::1"]
    aliases = next(r for r in config.routers if r.name == "system_aliases")
    lookup = aliases.option("data").value.expansion.lookups()[0]  # type: ignore[union-attr]
    assert (lookup.type, lookup.source.literal()) == ("lsearch", "/etc/aliases")


@pytest.mark.exim
def test_split_and_unsplit_debian_configs_resolve_alike(debian_corpus: Corpus) -> None:
    def statements(name: str) -> list[str]:
        config = read_config(str(debian_corpus.files[name]), debian_corpus.defines[name])
        return [line for line in config.resolved_lines if not line.startswith("#")]

    assert statements("internet") == statements("internet-split")


def test_paths_the_configuration_names_are_read_under_root(tmp_path: Path) -> None:
    """exim on the test machine reads the server's copies: lookup files, dsearch directories, per-domain files."""
    root = tmp_path / "root"
    (root / "etc/exim/virtual").mkdir(parents=True)
    (root / "etc/exim/virtual/example.org").write_text("info: someone@example.net\n")
    config = tmp_path / "configure"
    config.write_text(
        "keep_environment =\nspool_directory = /var/spool/exim4\n"
        "domainlist local_domains = dsearch;/etc/exim/virtual\n"
        "begin routers\nv:\n  driver = redirect\n  domains = +local_domains\n"
        "  data = ${lookup{$local_part}lsearch{/etc/exim/virtual/$domain_data}}\n"
    )
    text = dns_free_config(config, {}, tmp_path / "oracle.conf", root=root).read_text()
    assert f"dsearch;{root}/etc/exim/virtual\n" in text
    assert f"lsearch{{{root}/etc/exim/virtual/$domain_data}}" in text
    assert "spool_directory = /var/spool/exim4" in text  # not under root: left as it is


def test_options_of_one_tls_library_are_left_out_and_said(exim: Exim, tmp_path: Path) -> None:
    """Debian's exim is built with GnuTLS and refuses openssl_options; an OpenBSD exim is built with OpenSSL."""
    config = tmp_path / "configure"
    config.write_text("keep_environment =\nopenssl_options = +no_sslv3\nqualify_domain = example.org\n")
    assert "openssl_options is set but we're using GnuTLS" in exim.error(config)
    dropped: list[str] = []
    oracle = dns_free_config(config, {}, tmp_path / "oracle.conf", dropped=dropped)
    assert dropped == ["openssl_options"]
    assert exim.error(oracle) == "" and "qualify_domain = example.org" in oracle.read_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a greylisting daemon's socket with a fail string: exim answers it when the daemon is down
        ("condition = ${readsocket{/run/greylistd/socket}{--grey $sender_address}{5s}{}{false}}", "condition = false"),
        ("x ${readsocket{/s}{r}{5s}{\\n}{${if eq{1}{1}{no}}} } y", "x ${if eq{1}{1}{no}} y"),
        # without one, and every other command: a forced failure
        ("condition = ${readsocket{/s}{r}{5s}}", f"condition = {FAIL}"),
        ("condition = ${run{/bin/true}{yes}{no}}", f"condition = {FAIL}"),
    ],
)
def test_a_command_fails_as_exim_would_make_it_fail(text: str, expected: str) -> None:
    assert without_commands(text, FAIL) == expected


def test_an_answer_that_commands_only_defer_stands() -> None:
    """A greylisting daemon saying "not yet" defers: the retry gets the answer without it."""
    case = Case("198.18.0.7", "postmaster@example.org", "anyone", "local-domains")
    accepted = Answer(250, "Accepted", "localuser")
    failing = {case: accepted}
    assert _decided_by_commands(failing, {case: Answer(451, "greylisted")}, ["configure:9"]) == failing
    refused = _decided_by_commands(failing, {case: Answer(550, "blocked")}, ["configure:9"])
    assert refused[case].decided_by_commands


@pytest.mark.exim
def test_a_long_domain_list_looked_up_in_a_file_answers_as_inline(exim: Exim, shared_tmp: Path) -> None:
    """The oracle's copy moves 1,500 literal names to an lsearch file; exim routes and accepts exactly as before."""
    names = [f"Host{n}.Example.org" for n in range(1500)]
    config = shared_tmp / "configure"
    config.write_text(
        f"keep_environment =\nprimary_hostname = mx.example.org\nspool_directory = {exim.spool}\n"
        f"domainlist local_domains = @ : localhost : *.wild.example : {' : '.join(names)}\n"
        "acl_smtp_rcpt = rcpt\nbegin acl\nrcpt:\n  require domains = +local_domains\n  accept\n"
        "begin routers\nlocal:\n  driver = accept\n  domains = +local_domains\n  transport = t\n"
        "other:\n  driver = redirect\n  allow_fail\n  data = :fail: not ours\n"
        "begin transports\nt:\n  driver = appendfile\n  file = /dev/null\n"
    )
    copy = dns_free_config(config, {}, shared_tmp / "oracle.conf", spool=exim.spool)
    assert "lsearch;" in copy.read_text() and "Host7.Example.org" not in copy.read_text()
    recipients = [
        "a@host0.example.org",
        "b@HOST1499.EXAMPLE.ORG",
        "c@host1500.example.org",
        "d@mx.example.org",
        "e@localhost",
        "f@x.wild.example",
        "g@wild.example",
        "h@example.org",
    ]
    routed = [exim.run(path, "-bt", *recipients) for path in (config, copy)]
    assert routed[0].stdout == routed[1].stdout and "is undeliverable" in routed[0].stdout
    dialogue = "EHLO x\r\n" + "".join(f"MAIL FROM:<s@far.example>\r\nRCPT TO:<{r}>\r\nRSET\r\n" for r in recipients)
    replies = []
    for path in (config, copy):
        run = subprocess.run(
            [str(exim.binary), "-C", str(path), "-bh", "198.51.100.1"],
            input=dialogue + "QUIT\r\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        replies.append([line[:3] for line in run.stdout.splitlines() if line[:3].isdigit() and line[3:4] == " "])
    assert replies[0] == replies[1]
    assert replies[0].count("550") == 3  # host1500, wild.example itself, example.org
