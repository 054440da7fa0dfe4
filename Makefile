# Two commands on a fresh machine: `make demo` (set up, run the embedded suite) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.medbench-installed
DEMO_OUT ?= results/demo
DEMO_SITE ?= site/demo
PYTEST_ARGS ?=

.PHONY: demo test test-fast bench install clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-installs only when pyproject.toml changes; the package itself is editable.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# scratch vs our CPMID release (pretrained first on the embedded cpmid-synth), plus ImageNet when its
# weights are already in the Hugging Face cache; nothing is downloaded.
demo: $(STAMP)
	@inits=scratch,cpmid; \
	if HF_HUB_OFFLINE=1 $(BIN)/medbench inits check imagenet --backbone resnet18 >/dev/null 2>&1; then inits=$$inits,imagenet; \
	else echo "(imagenet weights for resnet18 are not cached: comparing scratch and cpmid)"; fi; \
	HF_HUB_OFFLINE=1 $(BIN)/medbench run --init $$inits --backbone resnet18 --protocol quick --seeds 0 --out $(DEMO_OUT) --quiet
	$(BIN)/medbench results $(DEMO_OUT)
	@echo "(one seed per cell: on these tasks one seed alone moves accuracy by up to 0.06, and figures differ across CPU types;"
	@echo " for a spread: medbench run --init scratch,cpmid --backbone resnet18 --protocol quick --seeds 0,1,2 --out results/demo3)"
	$(BIN)/medbench leaderboard build --definition embedded --results $(DEMO_OUT) --seeds 0 --out $(DEMO_SITE)

# Every test (nothing deselected), over the CPU cores with pytest-xdist (each worker has its own MEDBENCH_HOME;
# a file's tests run on one worker, so they share its module fixtures; xdist_group does not work with pytest 9.2);
# the 25 slowest are listed at the end. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto
PYTEST_RUN = $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=25

test: $(STAMP)
	$(PYTEST_RUN) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PYTEST_RUN) -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pytest -q benchmarks --benchmark-only

clean:
	rm -rf $(VENV) results site .pytest_cache
