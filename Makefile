# crowdact — every target creates and fills .venv itself (only Python 3.11 and make needed).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO ?= 1
ROLE ?= participant
SUB ?=
ORG ?=
STAMP := $(VENV)/.installed

.PHONY: help venv run test test-unit test-functional test-e2e test-infra lint typecheck token \
	clean bench synth lint-infra bootstrap deploy diff destroy web-vendor

help:
	@echo "make run      start the local stack with demo data: the web client on http://127.0.0.1:$(PORT)/, the API beside it"
	@echo "              (DEMO=0: empty tables; /health answers 503 until the stack is ready)"
	@echo "make test     lint, type-check and run the whole test suite (installs Debian's chromium if missing)"
	@echo "make web-vendor   refresh web/vendor/ from the npm packages pinned in web/package-lock.json"
	@echo "make token ROLE=admin|org-admin|participant SUB=... [ORG=org_...] [EMAIL=... LOCALE=fr|en]   print a local JWT"
	@echo "make bench    benchmarks (not in make test); figures go to docs/performance.md"
	@echo "make synth    CloudFormation for dev and prod into cdk.out/ (offline)"
	@echo "make deploy STAGE=dev MAIL_DOMAIN=...   deploy to AWS (credentials needed; docs/deploy.md)"

# requirements-infra.txt includes requirements-dev.txt, which includes requirements.txt.
$(STAMP): requirements.txt requirements-dev.txt requirements-infra.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is required"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==26.2.1"  # chalice needs pip<26.3
	$(BIN)/python -m pip install --quiet -r requirements-infra.txt
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m chalicelib.local --port $(PORT) $(if $(filter 0,$(DEMO)),--no-demo)

token: $(STAMP)
	@$(BIN)/python scripts/mint_token.py --role $(ROLE) $(if $(SUB),--sub $(SUB)) \
		$(if $(ORG),--org-id $(ORG)) $(if $(EMAIL),--email $(EMAIL) --email-verified) \
		$(if $(LOCALE),--locale $(LOCALE))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy app.py chalicelib scripts tests bench infra

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test-functional: $(STAMP)
	$(BIN)/pytest tests/functional -q

# The browser tests drive Debian's chromium (Playwright's own download is not reachable here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests (apt-get)"
	apt-get install -y --no-install-recommends chromium || \
		{ apt-get update && apt-get install -y --no-install-recommends chromium; }

web-vendor:
	cd web && npm ci && npm run vendor

test-e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest tests/e2e -q

test-infra: $(STAMP)
	$(BIN)/pytest -q tests/infra

test: lint typecheck $(STAMP) $(CHROMIUM)
	$(BIN)/pytest -q -n 2 tests/unit tests/functional
	$(BIN)/pytest -q tests/e2e
	$(BIN)/pytest -q tests/infra

# CloudFormation for every stage into cdk.out/, offline (no AWS credentials, no CDK CLI).
synth: $(STAMP)
	$(BIN)/python -m infra.app

lint-infra: synth
	$(BIN)/python -m infra.lint cdk.out

# Deployment (docs/deploy.md): needs AWS credentials and Node.js; never run in CI. The CDK CLI
# is fetched by npx at this pinned version; the app it runs is infra/cdk.json -> infra.app.
STAGE ?= dev
MAIL_DOMAIN ?=
CONTEXT ?=  # more CDK context, e.g. CONTEXT="-c crowdact:dev:alarm_email=ops@example.org"
CDK_CLI_VERSION := 2.1148.1
CDK := cd infra && npx --yes aws-cdk@$(CDK_CLI_VERSION)
CDK_CONTEXT = -c crowdact:$(STAGE):mail_domain=$(MAIL_DOMAIN) $(CONTEXT)

define require_mail_domain
	@test -n "$(MAIL_DOMAIN)" || { echo "MAIL_DOMAIN=<a domain you control> is required"; exit 1; }
endef

bootstrap: $(STAMP)
	$(CDK) bootstrap

diff: $(STAMP)
	$(call require_mail_domain)
	$(CDK) diff $(CDK_CONTEXT) $(STAGE)

deploy: $(STAMP)
	$(call require_mail_domain)
	$(CDK) deploy $(CDK_CONTEXT) --require-approval broadening $(STAGE)

destroy: $(STAMP)
	$(call require_mail_domain)
	$(CDK) destroy $(CDK_CONTEXT) $(STAGE)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis cdk.out
