# refhlo — the two commands a new user needs: `make demo` and `make check`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo check lit pytest bench docs clean

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

# Regenerate docs/passes.md from the pass registry.
docs: $(STAMP)
	$(PY) tools/gen_pass_docs.py > docs/passes.md

clean:
	rm -rf $(VENV) build *.egg-info
