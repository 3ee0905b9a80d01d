# Two commands for a fresh Debian machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXIM2SMTPD_ROOTS := $(CURDIR)/.cache/roots
# exim 4.100 lives in the unstable root; the wrapper runs it there.
EXIM_ROOT := $(EXIM2SMTPD_ROOTS)/unstable/opt/exim4
EXIM := $(CURDIR)/tools/exim-in-root.sh
EXAMPLE := fixtures/article-mx/configure
DEMO_OUT := .cache/demo
export EXIM EXIM_ROOT EXIM2SMTPD_ROOTS

.PHONY: demo test lint venv test-deps bench fuzz clean man

$(BIN)/exim2smtpd: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

venv: $(BIN)/exim2smtpd

demo: venv
	@rm -rf $(DEMO_OUT)
	@echo "== exim2smtpd convert $(EXAMPLE) -o $(DEMO_OUT)"
	$(BIN)/exim2smtpd convert $(EXAMPLE) -o $(DEMO_OUT)
	@echo
	@echo "== $(DEMO_OUT)/smtpd.conf"
	@cat $(DEMO_OUT)/smtpd.conf

# Nothing of the host's mail system is installed, removed or started: the
# daemons the tests run live in system roots under .cache/roots. One build at a
# time (flock): a second `make test` waits, then finds the roots built.
test-deps:
	sh tools/install-test-deps.sh
	mkdir -p $(EXIM2SMTPD_ROOTS)
	flock $(EXIM2SMTPD_ROOTS)/.build.lock sh tools/build-roots.sh $(EXIM2SMTPD_ROOTS)
	flock $(EXIM2SMTPD_ROOTS)/.build.lock sh tools/build-runbook-root.sh $(EXIM2SMTPD_ROOTS)

# Style, types and the import layers (pyproject.toml: [tool.ruff], [tool.mypy], [tool.importlinter]).
lint: venv
	$(BIN)/ruff check migrate tests bench
	$(BIN)/ruff format --check migrate tests bench
	$(BIN)/mypy migrate
	$(BIN)/lint-imports

test: venv test-deps lint
	$(BIN)/pytest

# A long property-based campaign (minutes); `make test` runs a bounded number of examples.
fuzz: venv test-deps
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/commands/test_fuzz.py -x

bench: venv test-deps
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_reader.py
	$(BIN)/python bench/bench_convert.py
	$(BIN)/python bench/bench_mainlog.py

# The man page is written from the click commands; a test checks the committed one is current.
man: venv
	$(BIN)/python -m migrate.cli.manpage > docs/exim2smtpd.1

clean:
	rm -rf $(VENV) .cache .pytest_cache
