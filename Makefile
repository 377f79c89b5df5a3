# refhlo — the two commands a new user needs: `make demo` and `make check`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo check lit pytest bench docs fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job end to end.
demo: $(STAMP)
	$(PY) tools/demo.py

# Every test: lit (FileCheck tests of ref-opt and the passes), then pytest.
check: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/lit -sv test
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q

lit: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/lit -sv test

pytest: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench

# Differential fuzzing (tools/fuzz.py): COUNT random programs of each KIND
# (ref: pipeline + XLA vs the interpreter; jax: refhlo.jit vs jax.jit) from
# SEED, in JOBS processes. Prints counts, classes and a reproducer per failure;
# fails on any failure. E.g. `make fuzz SEED=5000 COUNT=200 KIND=jax`.
SEED  ?= 0
COUNT ?= 1000
KIND  ?= both
JOBS  ?= $(shell nproc 2>/dev/null || echo 1)
fuzz: $(STAMP)
	$(PY) tools/fuzz.py --seed $(SEED) --count $(COUNT) --kind $(KIND) --jobs $(JOBS)

# Regenerate docs/passes.md from the pass registry.
docs: $(STAMP)
	$(PY) tools/gen_pass_docs.py > docs/passes.md
	$(PY) tools/gen_api_docs.py > docs/api.md

clean:
	rm -rf $(VENV) build *.egg-info
