# needlecheck: `make run` starts the assistant, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, or the copy pip installs for the Python that .python-version selects.
UV := $(shell uv --version >/dev/null 2>&1 && echo uv || echo python3 -m uv)

# A health product sends nothing to third parties, and start-up must not need the network.
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

MODEL := models/needlecheck.tar.gz
TRAINING_DATA := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)

.PHONY: help install model db run run-prod status haproxy load shell test lint format rasa-validate rasa-test pytest audit browser nlu-eval nlu-cv converse readability policy-page bench bench-channels clean

help:
	@echo "make run     start the assistant on localhost:5005 (actions on :5055, front desk on :8000)"
	@echo "make test    lint, Rasa data validation, Rasa story tests, pytest and the dependency audit"
	@echo "make audit   pip-audit over uv.lock (skipped with a notice when its service is out of reach)"
	@echo "make run-prod  the production topology (PostgreSQL, Redis, RabbitMQ, HAProxy; docs/production.md)"
	@echo "make status  the state of every component"
	@echo "make load    Locust load test: 20/50/100 conversations, one instance and production"
	@echo "make shell   chat with the assistant in this terminal"
	@echo "make model   train the model if config or training data changed"
	@echo "make db      apply database migrations"
	@echo "make browser install Debian's chromium for the browser test (make test does it)"
	@echo "make nlu-eval  the model on the held-out corpus (tests/language); updates docs/language.md's table"
	@echo "make nlu-cv    Rasa's intent cross-validation over data/nlu (docs/language.md)"
	@echo "make converse  1000 whole conversations from the held-out corpus, checked against the engine; updates docs/language.md"
	@echo "make readability  the reading grade of every text a person reads; updates docs/wording.md's list"
	@echo "make policy-page  rewrite docs/screening-policy.md's tables from the rules file"
	@echo "make bench   latency, start-up, training and memory, beside a rasa init bot"
	@echo "make bench-channels  latency of each messaging channel's webhook, against fake providers"

install: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

# Make's timestamps retrain only when the configuration or the training data changed.
model: $(MODEL)
$(MODEL): .venv/.synced $(TRAINING_DATA)
	$(UV) run rasa train --fixed-model-name needlecheck --out models

db: .venv/.synced
	$(UV) run needlecheck db upgrade

run: $(MODEL) db
	$(UV) run needlecheck run --model $(MODEL)

# The production topology (docs/production.md): 2 Rasa instances and 2 action servers
# behind HAProxy, PostgreSQL, Redis and RabbitMQ. It refuses to start without
# NEEDLECHECK_API_TOKEN, NEEDLECHECK_ACTION_SECRET and NEEDLECHECK_DATA_KEYS (the
# migrations encrypt with those keys, and generate none in production).
PROD_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/needlecheck

run-prod: $(MODEL) haproxy
	export DATABASE_URL=$${DATABASE_URL:-$(PROD_DATABASE_URL)} NEEDLECHECK_PROFILE=production; \
	$(UV) run needlecheck db create && $(UV) run needlecheck db upgrade && \
	$(UV) run needlecheck run-prod --model $(MODEL)

status: .venv/.synced
	@$(UV) run needlecheck status

# Debian's HAProxy, the production profile's load balancer.
haproxy:
	@command -v haproxy >/dev/null || { \
		echo "installing Debian's haproxy for the production profile"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq haproxy >/dev/null; }

shell: $(MODEL) db
	@export NEEDLECHECK_ACTION_SECRET=$${NEEDLECHECK_ACTION_SECRET:-$$(openssl rand -hex 24)}; \
	$(UV) run python -m needlecheck.action_server & actions=$$!; \
	trap "kill $$actions 2>/dev/null" EXIT; \
	$(UV) run python -m needlecheck.rasa_server shell --model $(MODEL) --endpoints endpoints.yml --interface 127.0.0.1

lint: .venv/.synced
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: .venv/.synced
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

rasa-validate: .venv/.synced
	$(UV) run rasa data validate --fail-on-warnings

rasa-test: $(MODEL)
	$(UV) run rasa test core --e2e --stories tests/test_stories.yml --model $(MODEL) \
		--fail-on-prediction-errors --out var/rasa-test-results

pytest: $(MODEL) browser haproxy
	$(UV) run pytest

# The browser tests drive Debian's Chromium (Playwright's own download does not work here)
# and check accessibility with axe-core, a pinned release from the npm registry.
AXE_VERSION := 4.10.3
AXE := var/vendor/axe.min.js

browser: $(AXE)
	@test -x /usr/bin/chromium || { \
		echo "installing Debian's chromium for the browser test"; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null; }

$(AXE):
	mkdir -p var/vendor/axe
	cd var/vendor/axe && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && \
		tar xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js
	mv var/vendor/axe/package/axe.min.js $@
	rm -rf var/vendor/axe

test: lint rasa-validate rasa-test pytest audit

# pip-audit over uv.lock, in an environment of its own (it does not resolve beside Rasa);
# skipped with a notice when its vulnerability service is out of reach (SECURITY.md).
PIP_AUDIT := pip-audit==2.10.1

audit: .venv/.synced
	@mkdir -p var/audit && rm -f var/audit/report.json
	@$(UV) export --frozen --no-hashes --no-emit-project --all-groups --quiet \
		-o var/audit/requirements.txt
	@-$(UV) tool run --quiet $(PIP_AUDIT) -r var/audit/requirements.txt --no-deps \
		--disable-pip --progress-spinner off -f json -o var/audit/report.json \
		>var/audit/pip-audit.log 2>&1
	@$(UV) run python -m tools.dependency_audit var/audit/report.json var/audit/pip-audit.log

# The held-out corpus (tests/language): fact accuracy per question, safety recall and
# routing; exits 1 below the floors (needlecheck/nlu/heldout.py, FLOORS).
nlu-eval: $(MODEL)
	$(UV) run python -m bench.nlu_eval --model $(MODEL) --page docs/language.md

NLU_FOLDS := 5

# Rasa's own cross-validation of the intent classifier over the training data.
nlu-cv: .venv/.synced
	rm -rf var/nlu-cv
	$(UV) run rasa test nlu --nlu data/nlu --config config.yml --cross-validation \
		--folds $(NLU_FOLDS) --out var/nlu-cv
	$(UV) run python bench/nlu_report.py var/nlu-cv docs/language.md $(NLU_FOLDS)

converse: $(MODEL) db
	$(UV) run python -m bench.converse --conversations 1000 --page docs/language.md

# The reading grade of every text a person reads (docs/wording.md, "Plain language"),
# hardest first; writes the three hardest into docs/wording.md between its markers.
readability: .venv/.synced
	$(UV) run python -m tools.reading_grade --page docs/wording.md

# The tables of docs/screening-policy.md (outcomes, facts, rules), written from
# needlecheck/screening/rules.yml and the engine; tests/test_policy_page.py fails when stale.
policy-page: .venv/.synced
	$(UV) run python -m tools.policy_page --page docs/screening-policy.md

bench: .venv/.synced
	$(UV) run python bench/bench.py

bench-channels: $(MODEL) db
	$(UV) run python -m bench.channels

# Locust: 20, 50 and 100 conversations at once, one instance and the production
# topology (needs what `make run-prod` needs); prints the load table of docs/performance.md.
load: $(MODEL) haproxy
	$(UV) run python -m bench.load.run

clean:
	rm -rf models var/rasa-test-results var/nlu-eval .pytest_cache .ruff_cache
