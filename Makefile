# The two commands: `make demo` runs the local stack on the demo fleet, `make test` the tests.
# Both set up everything they need first (Debian packages when missing, a virtualenv).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint lint-imports venv system-deps dashboards rules screenshots lock pin-images clean

demo: system-deps venv
	$(PY) demo/run.py

test: system-deps venv lint lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff's rules and formatter settings are in pyproject.toml.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The import rules of docs/architecture.md, as contracts in pyproject.toml.
lint-imports: venv
	$(VENV)/bin/lint-imports

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@sh demo/system-deps.sh

dashboards: venv
	$(PY) dashboards/generate.py

# rules/promcast.rules.yml from rules/source/promcast.rules.template.yml and rules/source/config.yml, then what
# is generated from the rules (the PrometheusRule, the monitoring mixin).
rules: venv
	$(PY) rules/generate.py
	$(PY) deploy/generate.py

# The Docker image's pinned, hashed Python dependencies (the `models` and `focus` extras the
# compose configs use, and the build backend), from pyproject.toml.
lock: venv
	$(PY) -m pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --allow-unsafe \
		--generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra models --extra focus \
		-o requirements.lock pyproject.toml docker/build-requirements.in

# docker-compose.yml's images pinned to the digests their tags have on the registries now
# (needs network access to Docker Hub; review the diff). `--check` lists what is not pinned.
pin-images:
	python3 docker/pin_images.py

# The README's picture of a report's first page (demo data at a fixed instant, headless Chromium).
screenshots: system-deps venv
	$(PY) demo/screenshot.py --out docs/report.png

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
