# vgg_report: `make test` and `make report` set everything up on a fresh machine (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
BROWSER_PACKAGES := chromium chromium-driver
TEX_PACKAGES := texlive-latex-base texlive-latex-recommended texlive-science lmodern latexmk poppler-utils
SLURM_PACKAGES := slurm-wlm munge
# one thread per process: the machines' two cores are shared, and one thread is faster there
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 VGG_REPORT_OFFLINE=1 MPLBACKEND=Agg

.PHONY: install test nbdev-test test-fast docs site board report lab debian clean-venv gpu-wheels gpu-check
.DEFAULT_GOAL := test

# `make install` removes rfc3987-syntax, jsonschema's optional IRI checker (JupyterLab's jupyter-events asks for it), whenever
# it is there (a reinstall brings it back): it builds an Earley parser as it is imported, about 1.1 s of CPU in every process that
# imports Ray or papermill (each Ray daemon and worker, each vgg_run and vgg_sweep), two thirds of `import ray`. No schema here,
# in Jupyter or in Ray has an `iri` format, and jsonschema leaves that check out when the package is absent, as in a plain
# `pip install ray papermill`.
install: $(STAMP) debian
	@if compgen -G '$(VENV)/lib/python3*/site-packages/rfc3987_syntax' >/dev/null; then \
	  echo 'removing rfc3987-syntax (see the Makefile)'; $(PY) -m pip uninstall --quiet --yes rfc3987-syntax; fi

# Re-runs only when setup.py or settings.ini (the requirements) change.
$(STAMP): setup.py settings.ini
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN) -e '.[dev]'
	$(PY) -c 'from vgg_report.runner import install_kernel; install_kernel()'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name 'Python 3 (vgg_report venv)' >/dev/null
	@touch $(STAMP)
	@echo "installed: $(VENV) ($$($(PY) -c 'import torch; print("torch", torch.__version__)'))"

# What Debian has to give: TeX Live for the PDF (and poppler's pdftotext, which the tests read it with), Chromium and ChromeDriver for
# the browser tests (tests/test_watch.py), SLURM and munge for tests/test_slurm.py (a one-host cluster of its own; no system service
# is started or touched). A group whose commands are missing is installed, all in one apt-get, when we are root; else the one
# command to run is printed.
missing = for c in $(1); do command -v $$c >/dev/null || { need="$$need $(2)"; break; }; done;
debian:
	@need=""; $(call missing,latexmk pdflatex pdftotext,$(TEX_PACKAGES)) \
	$(call missing,chromium chromedriver,$(BROWSER_PACKAGES)) \
	$(call missing,sbatch slurmctld slurmd munged,$(SLURM_PACKAGES)) \
	if [ -z "$$need" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing from Debian:$$need"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	else echo "missing from Debian (TeX for the PDF, Chromium for the browser tests, SLURM for its test); install them with:"; \
	  echo "  sudo apt-get install --no-install-recommends$$need"; fi

# pytest-xdist runs the tests on TEST_WORKERS processes of one thread each (two cores here: 2); `make test TEST_WORKERS=0` runs them
# in this one process. Each worker is handed one test at a time (--maxschedchunk 1), in the order tests/conftest.py gives, so that
# neither holds a queue of long tests while the other idles. The slowest tests are listed at the end, so the suite's cost stays
# visible; scripts/test_costs.py times every test into nbs/measured/test_costs.json.
TEST_WORKERS ?= 2
PYTEST := $(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --maxschedchunk 1 --durations=15

# nbdev's own notebook runner: every library notebook in a process of its own, skipping the cells flagged slow, cuda or notest
# (the papermill templates, experiment and report, are run through papermill by the tests). `make test` does not run it:
# tests/test_notebooks.py runs every notebook the same way (the same cells skipped, IN_TEST set) and also checks that its
# committed outputs are fresh, so nbdev_test after it ran each notebook a second time (a minute here) and found nothing new.
NBDEV_TEST := $(TEST_ENV) $(VENV)/bin/nbdev_test --n_workers $(TEST_WORKERS) --skip_file_re '^([_.]|experiment|report)'

test: install
	$(PYTEST) tests

nbdev-test: install
	$(NBDEV_TEST)

# the loop while editing (about a minute): every notebook as nbdev_test runs it, and the tests that run in this process, skipping
# those marked slow (real processes, papermill kernels, training past a few seconds). CI runs everything through `make test`.
test-fast: install
	$(PYTEST) tests -m "not slow"

# Execute the library notebooks in place (nbs/[0-9]*.ipynb) and clean them: they are committed with their outputs, and
# tests/test_notebooks.py fails when a committed output is missing or stale. Pass NBS=nbs/03_hooks.ipynb for one.
docs: install
	$(TEST_ENV) $(PY) scripts/docs.py $(NBS)

# The docs site in _site/html (git-ignored), offline, from the committed notebooks without executing them: scripts/site.py.
site: install
	$(TEST_ENV) $(PY) scripts/site.py

# The run set a target works on. `make report`, `make board` (and `vgg_status`, `vgg_build_report`) take the same options, so that
# the report is built from, and TensorBoard shows, the run set that was swept: PROFILE (auto: full on a GPU, quick on a CPU; smoke
# for a report in minutes), DATASET, GRID, PRECISION (auto: bf16 at the quick profile on a CPU with native bf16, else fp32) and,
# when given, THREADS, DEVICE, RUNS_DIR.
PROFILE ?= auto
DATASET ?= auto
PRECISION ?= auto
GRID ?= paper
RUN_SET_ARGS = $(strip --profile $(PROFILE) --dataset $(DATASET) --grid $(GRID) --precision $(PRECISION) \
	$(if $(THREADS),--threads $(THREADS)) $(if $(DEVICE),--device $(DEVICE)) $(if $(RUNS_DIR),--runs_dir $(RUNS_DIR)))
# The options of SWEEP_ARGS that name the run set (e.g. SWEEP_ARGS='--profile smoke --grid mine.csv'), for the report too.
SAME_RUN_SET = $(shell printf '%s\n' $(SWEEP_ARGS) | awk -v names=' profile dataset grid precision threads device runs_dir data_dir ' \
	'take {print; take = 0; next} /^--/ {o = substr($$0, 3); sub(/=.*/, "", o); if (index(names, " " o " ")) {print; take = !/=/}}')

# TensorBoard on the run set of those options (RUN_SET=runs/<run set> names a folder instead), on 127.0.0.1 and a free port (or
# BOARD_PORT=...). It says first which run sets the runs folder holds (rows finished of each) and which one it shows; then its
# address (the first line of its output), and runs until Ctrl-C.
BOARD_SET := import os, sys; from pathlib import Path; from vgg_report.core import cli_errors; \
	from vgg_report.runset import plan, say_run_sets; e = os.environ; \
	d = Path(e['RUN_SET']).resolve() if e['RUN_SET'] else cli_errors(plan)(e['GRID'], profile=e['PROFILE'], \
	dataset=e['DATASET'], runs_dir=e['RUNS_DIR'] or None, device=e['DEVICE'] or 'auto', precision=e['PRECISION'] or 'auto', \
	threads=e['THREADS'] or 1, quiet=True, reading=True)[0].folder.parent; \
	print(say_run_sets(d, d.parent, make=True), file=sys.stderr); print(d)
FREE_PORT := import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])
board: install
	@dir="$$(RUN_SET='$(RUN_SET)' GRID='$(GRID)' PROFILE='$(PROFILE)' DATASET='$(DATASET)' RUNS_DIR='$(RUNS_DIR)' DEVICE='$(DEVICE)' \
	  PRECISION='$(PRECISION)' THREADS='$(THREADS)' $(PY) -c "$(BOARD_SET)")" || exit 2; \
	port="$${BOARD_PORT:-$$($(PY) -c "$(FREE_PORT)")}"; \
	mkdir -p "$$dir"; echo "TensorBoard on $$dir: http://127.0.0.1:$$port/ (Ctrl-C stops it)"; \
	exec $(VENV)/bin/tensorboard --logdir "$$dir" --host 127.0.0.1 --port "$$port" --reload_interval 5

# The whole study and its PDF, on the run set of the options above: by default the auto profile (full on a GPU, quick on a CPU) on
# the auto dataset (CIFAR-100 when it is in data/ or downloadable, else the synthetic stand-in); `make report PROFILE=smoke` is a
# smoke report in minutes. Resumable: run it again after a stop. SWEEP_ARGS go to the sweep (e.g. '--jobs 1'), and those of them
# that name the run set go to the report too; REPORT_OUT writes figures/ and report/ under another folder.
report: install
	$(VENV)/bin/vgg_sweep $(strip $(RUN_SET_ARGS) $(SWEEP_ARGS))
	$(VENV)/bin/vgg_build_report $(strip $(RUN_SET_ARGS) $(SAME_RUN_SET) $(if $(REPORT_OUT),--out $(REPORT_OUT)))

# JupyterLab on the notebooks, started in nbs/ (its root) with the project's server configuration, .jupyter/ (nbdev's pre-save hook:
# a notebook only opened, then autosaved, is saved as it was committed).
JUPYTER ?= $(CURDIR)/$(VENV)/bin/jupyter
lab: install
	cd nbs && JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	  exec $(JUPYTER) lab $$([ "$$(id -u)" = 0 ] && echo --allow-root)   # JupyterLab refuses root without it

clean-venv:
	rm -rf $(VENV)

# GPU check for a machine that has a GPU, PyTorch and Triton but reaches no registry (the device tool's machines): `make gpu-wheels`
# here downloads the few dependencies they lack into .gpu/ (fastcore; tensorboard, protobuf and absl-py, which the runs' TensorBoard
# event files need; git-ignored, carried there); then on the GPU machine
# `make gpu-check OUT=<folder>` installs it beside the code and benchmarks the engine: eager, bf16, compiled with CUDA graphs, and
# four runs packed on the card, writing <folder>/bench_gpu.json after every measurement (2 min 41 s on an H100), then checks that
# training there repeats to the last bit in a new process, resumes exactly after an epoch and after a Ctrl-C in the middle of one,
# and that a compiled run repeats too, against eager (scripts/gpu_train_check.py), writing the record <folder>/gpu-train-check.json;
# commit it under nbs/measured/, which docs_site/guide/performance.md renders.
gpu-wheels: install
	$(PY) -m pip download --quiet --no-deps -d .gpu 'fastcore<2' 'tensorboard>=2.16,<3' absl-py protobuf

OUT ?= .
GPU_BENCH := --device cuda --n_images 10000 --floor_steps 50 --repeat 3 --workers 8 --compile reduce-overhead --pack 4 --out $(OUT)/bench_gpu.json
gpu-check:
	python3 -m pip install --quiet --no-deps --no-index --no-compile --target /tmp/site .gpu/*.whl
	nvidia-smi -L
	PYTHONPATH=$(CURDIR):/tmp/site PYTHONUNBUFFERED=1 python3 -m vgg_report.bench $(GPU_BENCH)
	PYTHONPATH=$(CURDIR):/tmp/site PYTHONUNBUFFERED=1 python3 scripts/gpu_train_check.py --out $(OUT)/gpu-train-check.json
