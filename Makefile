# Thin entry points; the logic lives in scripts/ so that CI and people run the same thing.
#   make test ARGS="-k preflight"    make deploy ARGS=--yes    make render ARGS="--model gemma3:1b"
SHELL := /bin/bash
PY := .venv/bin/python
ARGS ?=

.PHONY: deploy test lint bench render local venv

deploy:
	bash scripts/deploy.sh $(ARGS)

test:
	bash scripts/test.sh $(ARGS)

venv:
	bash scripts/venv.sh

lint: venv
	.venv/bin/ruff check . $(ARGS)

bench: venv
	@set -e; shopt -s nullglob; for f in bench/*.py; do echo "==> $$f"; $(PY) "$$f" $(ARGS); done

# render and local need only what `pulumi up` needs (requirements.txt), not the test tools.
# render: out/ unless ARGS names its own --out (or --out=DIR)
render:
	bash scripts/venv.sh requirements.txt
	$(PY) -m bootstrap render $(if $(filter --out --out=%,$(ARGS)),,--out out/) $(ARGS)

local:
	bash scripts/venv.sh requirements.txt
	$(PY) -m bootstrap local $(ARGS)
