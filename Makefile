# The two commands a newcomer needs:  make run  |  make test
SHELL := /bin/bash
PYTHON ?= python3
TANDEM := .venv/bin/tandem

.PHONY: help setup run up down status train test test-unit lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup:  ## create both venvs and install Redis, if missing (idempotent)
	@$(PYTHON) bot/stack/bootstrap.py

run: setup  ## set up what is missing, train what is stale, start everything
	@$(TANDEM) train
	@$(TANDEM) up
	@$(TANDEM) kb refresh

up down status train:  ## the `tandem` commands of the same name
	@$(TANDEM) $@

test: setup lint  ## set up what is missing and run every test (unit, Rasa, conversations, browser)
	@$(PYTHON) bot/stack/bootstrap.py --browser
	@.venv/bin/python -m pytest -ra tests

test-unit: setup  ## only the fast unit tests
	@.venv/bin/python -m pytest -ra tests/unit

lint: setup  ## ruff: lint and formatting
	@.venv/bin/ruff check bot actions knowledge adapters tests
	@.venv/bin/ruff format --check bot actions knowledge adapters tests

bench: setup  ## measure training, start-up and turn latency (writes docs/benchmarks/)
	@$(TANDEM) bench stack --fresh-setup

clean:  ## stop the stack and remove run-time state (keeps the venvs)
	-@$(TANDEM) down
	rm -rf .tandem models results
