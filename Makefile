# Everything a newcomer or CI needs, from a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
# Debian packages the tests use: graphviz (`dot` validates the graphs `ivr graph --format dot` draws), ffmpeg
# (pydub decodes MP3, FLAC, OGG and mu-law with it), espeak-ng, flite and sox (synthesised callers, the telephone
# channel)
APT_PACKAGES := graphviz ffmpeg espeak-ng flite sox
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system demo test test-fast lint bench

system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

setup: system
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[dev]'

demo: setup
	bash scripts/demo.sh

test: setup
	$(PYTHON) -m pytest

test-fast: setup
	$(PYTHON) -m pytest -m 'not slow'

lint: setup
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	lint-imports

bench: setup
	$(PYTHON) bench/check_scaling.py
	$(PYTHON) bench/webhook_load.py
	$(PYTHON) bench/sim_throughput.py
	$(PYTHON) bench/audio_robustness.py
	$(PYTHON) bench/replay_speed.py
	$(PYTHON) bench/accuracy.py
