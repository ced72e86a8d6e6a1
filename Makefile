# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if needed, install kellyd, run the daemon on ./config.toml
#   make test   create .venv if needed, install kellyd with test tools, run the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned, so nothing pulls a CUDA build; then kellyd with the train and test extras.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,test,stems,notes]'
	# Basic Pitch (audio to notes) without its declared TensorFlow pin, which would need numpy 1.
	$(BIN)/pip install --quiet --no-deps basic-pitch==0.4.0
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kellyd --config config.toml run

# pytest exits 5 when it collects nothing: that is a failure here, as is any other non-zero code.
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$rc

# System packages some tests use: Debian's chromium (the HTML report is rendered in a real headless
# browser) and fluidsynth with a General MIDI SoundFont (synthetic MIDI rendered to audio). Installed
# when missing and possible; otherwise those tests skip and say why.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v fluidsynth >/dev/null 2>&1 || missing="$$missing fluidsynth"; \
	[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing="$$missing fluid-soundfont-gm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
	      || echo "could not install$$missing: the tests that need them will be skipped"; \
	  else echo "not installed:$$missing: the tests that need them will be skipped"; fi; \
	fi

# The benchmarks also import pretty_midi (the comparison extractor) and psutil: the bench extra.
$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/pip install --quiet -e '.[train,test,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) state
