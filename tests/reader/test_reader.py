"""The pre-lexer and tree builder: positions, macros, conditionals, accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.errors import ConfigError
from migrate.reader import read_config
from migrate.reader.tree import AclStatement, EximConfig, Option, to_dict
from tests.conftest import FIXTURES, Corpus

HEAD = "keep_environment =\n"


def _read(tmp_path: Path, text: str, defines: dict[str, str] | None = None) -> EximConfig:
    path = tmp_path / "configure"
    path.write_text(text)
    return read_config(str(path), defines)


def _error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _read(tmp_path, text)
    return caught.value


def _statement(config: EximConfig, acl: str, index: int) -> AclStatement:
    return next(a for a in config.acls if a.name == acl).statements[index]


# -- positions --------------------------------------------------------------


def test_tab_indented_conditions_keep_true_columns() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    deny = _statement(config, "acl_check_rcpt", 1)
    hosts = deny.conditions[1]
    assert (hosts.name, hosts.negated) == ("hosts", True)
    assert (hosts.span.line, hosts.span.col) == (30, 3)  # after two tabs
    assert hosts.value is not None and hosts.value.span.col == 12


def test_continued_value_spans_its_physical_lines() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    message = _statement(config, "acl_check_rcpt", 1).conditions[2]
    assert (message.span.line, message.span.end_line) == (31, 33)
    assert message.value is not None
    assert message.value.text.startswith("relay from $sender_host_address to $domain not permitted (see ")
    assert message.source.count("\n") == 2  # the user's three lines, as written


def test_continuation_keeps_blanks_before_the_backslash_and_skips_comment_lines() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    domains = config.named_lists["local_domains"]
    assert [i.value for i in domains.items] == ["example.org", "example.com", "example.net", "example.info"]
    assert domains.value.text == "example.org : example.com : example.net : example.info"
    assert (domains.span.line, domains.span.end_line) == (9, 13)


def test_list_item_offsets_map_back_to_their_own_line() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    relay = config.named_lists["relay_from_hosts"]
    assert [i.value for i in relay.items] == ["127.0.0.1", "::1", "192.0.2.0/24"]


def _warning(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "configure"
    path.write_text(text)
    (found,) = read_config(str(path)).diagnostics
    return found


def test_a_warning_after_a_macro_points_at_the_users_column(tmp_path: Path) -> None:
    warning = _warning(tmp_path, HEAD + "P = abcdefgh\nqualify_domain = P${lookup\n")
    assert (warning.span.line, warning.span.col) == (3, 19)
    assert warning.source == "qualify_domain = P${lookup"


def test_a_warning_inside_a_macro_value_points_at_the_macro_name(tmp_path: Path) -> None:
    warning = _warning(tmp_path, HEAD + "P = ${oops\nqualify_domain = x P\n")
    assert (warning.span.line, warning.span.col) == (3, 20)
    assert "missing } to close this ${" in warning.message


def test_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("# first\n\n   qualify_domian = x\n")
    error = _error(tmp_path, HEAD + ".include inc.conf\n")
    span = error.diagnostic.span
    assert (Path(span.file).name, span.line, span.col) == ("inc.conf", 3, 4)


# -- macros -----------------------------------------------------------------


def test_macros_nest_in_definition_order(tmp_path: Path) -> None:
    config = _read(tmp_path, HEAD + "AA = x\nBB = AA.y\nCC = BB.z\nqualify_domain = CC\n")
    option = config.options["qualify_domain"]
    assert option.value is not None and option.value.text == "x.y.z"
    assert option.macros == ("CC",)
    assert option.source == "qualify_domain = CC"


def test_replacement_is_rescanned_only_by_later_macros(tmp_path: Path) -> None:
    text = HEAD + "LATE_USER = L-EARLY-L\nEARLY = e\nqualify_domain = LATE_USER\n"
    config = _read(tmp_path, text)
    assert config.options["qualify_domain"].value.text == "L-e-L"  # type: ignore[union-attr]
    text = HEAD + "EARLY = e\nLATE_USER = L-EARLY-L\nprimary_hostname = x\nqualify_domain = EARLY LATE_USER\n"
    config = _read(tmp_path, text)
    assert config.options["qualify_domain"].value.text == "e L-e-L"  # type: ignore[union-attr]


def test_redefinition_accumulates(tmp_path: Path) -> None:
    config = _read(tmp_path, HEAD + "M = a\nM == M b\nM == M c\nqualify_domain = M\n")
    assert config.options["qualify_domain"].value.text == "a b c"  # type: ignore[union-attr]
    assert [m.effect for m in config.main if hasattr(m, "effect")] == ["defined", "redefined", "redefined"]


def test_command_line_define_wins_over_every_definition(tmp_path: Path) -> None:
    text = HEAD + "M = a\nM == b\nqualify_domain = M\n"
    config = _read(tmp_path, text, {"M": "cmdline"})
    assert config.options["qualify_domain"].value.text == "cmdline"  # type: ignore[union-attr]
    assert [m.effect for m in config.main if hasattr(m, "effect")] == ["overridden", "overridden"]


def test_line_emptied_by_a_macro_is_dropped(tmp_path: Path) -> None:
    config = _read(tmp_path, HEAD + "NOTHING =\nNOTHING\nqualify_domain = x\n")
    assert "qualify_domain" in config.options


# -- conditionals -----------------------------------------------------------


def test_ifdef_is_true_when_any_substitution_happens(tmp_path: Path) -> None:
    text = HEAD + "ALPHA = a\n.ifdef XALPHAX\nqualify_domain = yes\n.endif\n.ifdef ALPH\nnot_an_option = 1\n.endif\n"
    config = _read(tmp_path, text)
    assert config.options["qualify_domain"].value.text == "yes"  # type: ignore[union-attr]
    taken = [(d.kind, d.argument, d.taken) for d in config.directives if d.kind == "ifdef"]
    assert taken == [("ifdef", "XALPHAX", True), ("ifdef", "ALPH", False)]


def test_elifdef_chain_takes_exactly_one_branch(tmp_path: Path) -> None:
    text = HEAD + (
        "B = 1\n.ifdef A\nqualify_domain = a\n.elifdef B\nqualify_domain = b\n"
        ".elifdef B\nqualify_domain = c\n.else\nqualify_domain = d\n.endif\n"
    )
    assert _read(tmp_path, text).options["qualify_domain"].value.text == "b"  # type: ignore[union-attr]


def test_builtin_macros_describe_the_exim_build(tmp_path: Path) -> None:
    text = HEAD + ".ifdef _HAVE_TLS\nqualify_domain = tls\n.endif\n.ifdef _HAVE_NOSUCH_FEATURE\nbogus = 1\n.endif\n"
    assert _read(tmp_path, text).options["qualify_domain"].value.text == "tls"  # type: ignore[union-attr]


def test_skipped_branch_is_not_parsed(tmp_path: Path) -> None:
    text = HEAD + ".ifdef NOPE\nthis is not a statement at all {\n.include /nonexistent\n.endif\n"
    config = _read(tmp_path, text)
    assert len(config.main) == 1


# -- accounting -------------------------------------------------------------


def _account(config: EximConfig) -> None:
    """Every line is blank, comment, directive, skipped or inside one statement's span."""
    covered: dict[str, set[int]] = {}
    for node in [*config.statements(), *config.sections]:
        lines = covered.setdefault(node.span.file, set())
        lines.update(range(node.span.line, node.span.end_line + 1))
    for file, kinds in config.line_kinds:
        text = Path(file).read_text(errors="surrogateescape").split("\n")
        for number, kind in enumerate(kinds, 1):
            stripped = text[number - 1].strip()
            assert kind in ("blank", "comment", "directive", "skipped", "statement"), (file, number)
            if kind == "statement":
                assert number in covered.get(file, set()), (file, number, stripped)
            elif kind == "blank":
                assert stripped == "" or number in covered.get(file, set()), (file, number, stripped)
            elif kind == "comment":
                assert stripped.startswith("#"), (file, number)


@pytest.mark.parametrize("fixture", ["article-mx", "macros-conditionals", "includes-lists", "continuations-tabs"])
def test_every_fixture_line_is_accounted_for(fixture: str) -> None:
    _account(read_config(str(FIXTURES / fixture / "configure")))


@pytest.mark.exim
@pytest.mark.parametrize("name", ["internet", "satellite", "template", "upstream-example"])
def test_every_debian_line_is_accounted_for(debian_corpus: Corpus, name: str) -> None:
    _account(read_config(str(debian_corpus.files[name]), debian_corpus.defines[name]))


def test_skipped_lines_are_marked_skipped(tmp_path: Path) -> None:
    config = _read(tmp_path, HEAD + ".ifdef NOPE\nqualify_domain = a\n.endif\n")
    assert dict(config.line_kinds)[str(tmp_path / "configure")] == ("statement", "directive", "skipped", "directive")


# -- tree -------------------------------------------------------------------


def test_acl_statements_group_conditions_under_their_verb() -> None:
    config = read_config(str(FIXTURES / "article-mx" / "configure"))
    rcpt = next(a for a in config.acls if a.name == "acl_check_rcpt")
    assert [s.verb for s in rcpt.statements] == [
        "accept",
        "deny",
        "deny",
        "accept",
        "accept",
        "accept",
        "require",
        "require",
        "accept",
    ]
    assert [(c.name, c.modifier) for c in rcpt.statements[1].conditions] == [
        ("message", True),
        ("domains", False),
        ("local_parts", False),
    ]


def test_set_and_endpass(tmp_path: Path) -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    warn = _statement(config, "acl_check_rcpt", 2)
    assert (warn.conditions[0].name, warn.conditions[0].variable) == ("set", "acl_m_rcpts")
    accept = _statement(config, "acl_check_rcpt", 3)
    assert [c.name for c in accept.conditions] == ["domains", "endpass", "verify"]
    assert accept.conditions[1].value is None


def test_booleans_and_negations() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    transport = config.transports[0]
    values = {o.name: o.bool_value for o in transport.options if o.value is None}
    assert values == {"maildir_format": True, "mode_fail_narrower": False, "notify_comsat": False}


def test_quoted_strings_are_dequoted_with_exim_escapes() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    banner = config.options["smtp_banner"].value
    assert banner is not None and banner.quoted
    assert banner.text == '$smtp_active_hostname ESMTP\tready! "quoted" AB'
    assert config.options["bounce_message_text"].value.text == "first line\nsecond line"  # type: ignore[union-attr]


def test_retry_and_rewrite_rules() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    first, second = config.retry[0], config.retry[1]
    assert (first.pattern, first.error, first.senders) == ("example.com", "*", "*@example.org")
    assert [(s.algorithm, s.cutoff, s.params) for s in second.steps] == [
        ("F", "2h", ("30m",)),
        ("G", "1d", ("1h", "1.5")),
    ]
    assert second.pattern == "*@lists.example"
    rewrite = config.rewrite[1]
    # Quoted, so exim's string_dequote turns "\." into "." (a classic exim gotcha).
    assert (rewrite.pattern, rewrite.replacement.text, rewrite.flags) == ("^(.*)@old.example$", "${1}@new.example", "S")


def test_repeatable_driver_options() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    assert [o.name for o in config.routers[0].options].count("headers_add") == 2


def test_hidden_values_never_reach_json() -> None:
    config = read_config(str(FIXTURES / "continuations-tabs" / "configure"))
    text = repr(to_dict(config))
    assert "s3cret" not in text
    config = read_config(str(FIXTURES / "includes-lists" / "configure"))
    assert "203.0.113.99" not in repr(to_dict(config))


def test_section_macros_end_the_block_before_them() -> None:
    config = read_config(str(FIXTURES / "macros-conditionals" / "configure"))
    assert [m.name for m in config.section_macros] == ["RELAY_NETS", "LOCAL_CHECK"]
    router = config.routers[0]
    assert isinstance(router.option("check_local_user"), Option)


def test_include_chain_deeper_than_the_bound_is_an_error(tmp_path: Path) -> None:
    for n in range(40):
        (tmp_path / f"inc{n}.conf").write_text(f".include inc{n + 1}.conf\n")
    (tmp_path / "inc40.conf").write_text("qualify_domain = deep\n")
    error = _error(tmp_path, HEAD + ".include inc0.conf\n")
    assert "nested deeper than 32 files" in error.diagnostic.message
    # configure plus inc0..inc30 are 32 files: the .include in inc30 is refused.
    assert Path(error.diagnostic.span.file).name == "inc30.conf"


def test_include_chain_within_the_bound_is_read(tmp_path: Path) -> None:
    for n in range(10):
        (tmp_path / f"inc{n}.conf").write_text(f".include inc{n + 1}.conf\n")
    (tmp_path / "inc10.conf").write_text("qualify_domain = deep\n")
    config = _read(tmp_path, HEAD + ".include inc0.conf\n")
    assert config.options["qualify_domain"].value.text == "deep"  # type: ignore[union-attr]
    assert len(config.files) == 12


@pytest.mark.parametrize(
    ("written", "section"),
    [
        ("acl", "acl"),
        ("acls", "acl"),
        ("ACL", "acl"),
        ("router", "routers"),
        ("routers", "routers"),
        ("Transports", "transports"),
        ("authenticator", "authenticators"),
        ("retry", "retry"),
        ("retrys", "retry"),
        ("rewrite", "rewrite"),
        ("rewrites", "rewrite"),
    ],
)
def test_section_names_singular_plural_any_case(tmp_path: Path, written: str, section: str) -> None:
    config = _read(tmp_path, HEAD + f"begin {written}\n")
    assert [s.name for s in config.sections] == [section]


@pytest.mark.exim
@pytest.mark.parametrize("name", ["acls", "router", "Transport", "retrys", "rewrites", "authenticator"])
def test_exim_accepts_the_same_section_names(exim, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "configure"
    path.write_text(HEAD + f"begin {name}\n")
    path.chmod(0o644)
    assert exim.error(path) == ""
