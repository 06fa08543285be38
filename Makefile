# Everything a newcomer or CI needs, from a fresh Debian machine: `make demo` and `make test` (see README).
# Both create and use a project virtualenv (.venv), so Debian's own, externally managed Python works too, and
# install the Debian packages the demo and the tests use (with sudo when you are not root).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages: graphviz (`dot` validates the graphs `ivr graph --format dot` draws), ffmpeg (pydub decodes
# MP3, FLAC, OGG and mu-law with it), espeak-ng, flite and sox (synthesised callers, the telephone channel)
APT_PACKAGES := graphviz ffmpeg espeak-ng flite sox
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system venv demo test test-fast lint docs bench

system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# Debian's python3 has no venv module until python3-venv is installed: install it when creating the venv fails
$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "installing Debian's python3-venv"; rm -rf $(VENV); \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv >/dev/null && \
		$(PYTHON) -m venv $(VENV); }

venv: $(PY)

setup: system venv
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

demo: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

# the tests in one process per core (pytest-xdist): the real-audio ones keep Whisper busy on both cores, the rest
# halve (568 s -> 326 s on 2 cores)
test: setup
	$(PY) -m pytest -n auto

test-fast: setup
	$(PY) -m pytest -n auto -m 'not slow'

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

docs: setup
	$(VENV)/bin/mkdocs build --strict --site-dir site

bench: setup
	$(PY) bench/check_scaling.py
	$(PY) bench/import_time.py
	$(PY) bench/webhook_load.py
	$(PY) bench/sim_throughput.py
	$(PY) bench/audio_robustness.py
	$(PY) bench/long_recording_memory.py
	$(PY) bench/faults.py
	$(PY) bench/replay_speed.py
	$(PY) bench/accuracy.py
