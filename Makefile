# Two commands do all the set-up on a fresh Debian machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa tesseract-ocr-osd \
	poppler-utils qpdf fonts-dejavu-core fonts-liberation fonts-liberation2 \
	fonts-comic-neue fonts-dkg-handwriting fonts-humor-sans \
	fonts-breip fonts-bwht fonts-cabinsketch fonts-dancingscript fonts-ecolier-court \
	fonts-femkeklaver fonts-havana fonts-joscelyn fonts-kaushanscript fonts-klee fonts-kristi \
	fonts-leckerli-one fonts-lobster fonts-rufscript fonts-yusei-magic \
	fonts-freefont-ttf fonts-crosextra-carlito fonts-crosextra-caladea fonts-urw-base35 \
	fonts-noto-mono
APT_TEST_PACKAGES := chromium
export OMP_THREAD_LIMIT := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test setup setup-test bench lint clean help

help:
	@echo "make demo   - install what is needed, then run the whole journey on generated letters"
	@echo "make test   - install what is needed, then run the test suite"
	@echo "make bench  - run the benchmarks and rewrite bench/RESULTS.md"

# --- set-up (quick when everything is in place) ---------------------------------------
.stamp-apt: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@touch $@

.stamp-apt-test: .stamp-apt
	@missing=$$(for p in $(APT_TEST_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@touch $@

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(VENV)/.stamp-install: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@# A database a Prefect server was started on, so a new data folder's server starts in ~3 s, not ~8.
	$(BIN)/python -m flows.runtime
	@touch $@

setup: .stamp-apt $(VENV)/.stamp-install
setup-test: .stamp-apt-test $(VENV)/.stamp-install node_modules/.stamp-npm

# axe-core for the browser tests, from package-lock.json (npm from Debian when the machine has none).
node_modules/.stamp-npm: package.json package-lock.json | .stamp-apt-test
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm; }
	npm ci --no-audit --no-fund
	@touch $@

# --- the two commands -------------------------------------------------------------------
demo: setup
	$(BIN)/python -m letterbridge.demo

test: setup-test
	bash tools/run_tests.sh

bench: setup
	$(BIN)/python -m bench.run_all

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf demo-out bench/out tests/artifacts node_modules .stamp-apt .stamp-apt-test
