# Two entry points for a fresh machine: `make run` (embedded default) and `make test`.
# Both build what they need: the virtualenv, Python packages and, when missing, Debian packages.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,13)))' && echo $$p && break; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test demo crds bench images debs clean

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is required" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests use (kubectl, prometheus, chromium for the report rendering tests); installed only when missing.
debs:
	@missing=""; \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v rclone >/dev/null || missing="$$missing rclone"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: venv debs
	$(VENV)/bin/mlops-operator dev

test: venv debs
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The closed drift loop in the embedded default, step by step (tests/e2e/test_drift_loop.py asserts each step).
demo: venv
	$(PY) -m pytest -q -s -p no:cacheprovider tests/e2e/test_drift_loop.py

crds: venv
	$(PY) -m mlops_operator.crdgen crds

bench: venv
	@echo "(make bench ARGS=\"--objects 200\" for a quicker run)"
	$(PY) -m bench $(ARGS)

images:
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "make images needs a running Docker engine" >&2; exit 1; }
	docker build -f images/operator.Dockerfile -t mlops-operator:dev .
	docker build -f images/components.Dockerfile -t mlops-components:dev .

clean:
	rm -rf $(VENV) .dev
