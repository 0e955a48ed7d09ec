# The two set-up commands are `make demo` and `make test`; everything else is a building block.
# Each installs what it needs on a bare Debian machine (as root): the host packages, then the venv.
# The venv's interpreter: Debian's own python3 (the one whose python3-venv is installed below)
# where it is 3.11 or newer and has venv's ensurepip or can be given it (as root), whatever
# python3 comes first on PATH; else that one. A version manager's build can be slower: on pyenv's
# default build (shared libpython, no PGO or LTO) a `validate` took 312 ms of CPU against 270,
# and the unit tests 2.7 s more CPU, 1.2 to 2.1 s more wall (three alternated pairs).
# `make PYTHON=python3.12 venv` picks another; an existing .venv is kept as it is.
DEBIAN_PYTHON := /usr/bin/python3
AS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell $(DEBIAN_PYTHON) -I -S -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { [ -n "$(AS_ROOT)" ] || $(DEBIAN_PYTHON) -I -S -c 'import ensurepip' \
	2>/dev/null; } && echo $(DEBIAN_PYTHON) || echo python3)
endif
VENV := .venv
BIN := $(VENV)/bin
NODES ?= 6
export PYTHON

# Debian packages, as CHECK:PACKAGE (see devfleet/host-packages.sh).
VENV_PACKAGES := $(PYTHON):python3 import=ensurepip:python3-venv \
	/etc/ssl/certs/ca-certificates.crt:ca-certificates
FLEET_PACKAGES := rsync:rsync ssh:openssh-client ssh-keygen:openssh-client \
	systemd-nspawn:systemd-container debootstrap:debootstrap
TEST_PACKAGES := git:git shellcheck:shellcheck make:make
HOST_PACKAGES := sh devfleet/host-packages.sh
# The unit tests in one worker per core (pytest-xdist); the fleet tests share one session fleet, so
# they run in one process after them. The two runs together are every test.
UNIT_TESTS := -m 'not fleet' -n auto --dist worksteal -o tmp_path_retention_policy=failed
# The unit run writes compiled bytecode (__pycache__/, ignored by git; pytest's rewritten test
# modules too) even where the environment sets PYTHONDONTWRITEBYTECODE: otherwise each worker and
# each Python a test starts compiles every module it imports again (about 1.5 s of CPU per worker).
# Its temporary files (about 10,000 files and directories, 100-200 MB written, about 20 MB at a
# time) go to the tmpfs /dev/shm where it is one, writable, executable and has 1 GB free (a
# container's is often 64 MB): creating and deleting them on ext4 cost 3-4 s of CPU. A passing
# test's directory is removed when it ends; a green run leaves nothing there.
UNIT_TMPDIR = $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && \
	findmnt -no FSTYPE,OPTIONS /dev/shm 2>/dev/null | grep '^tmpfs' | grep -qv noexec && \
	[ "$$(df -Pk /dev/shm | awk 'NR == 2 {print $$4}')" -ge 1048576 ] 2>/dev/null && echo /dev/shm)
UNIT_ENV = PYTHONDONTWRITEBYTECODE= $(if $(UNIT_TMPDIR),TMPDIR=$(UNIT_TMPDIR))
FLEET_TESTS := -m fleet

.PHONY: venv test test-unit check demo fleet-up fleet-down fleet-reset fleet-status bench bench-scale clean \
	host-venv host-fleet host-test
SCRIPTS := operations/scripts
PRODUCT := sentinelcam_models facts operations deploys devfleet inventories config.py

$(BIN)/sentinelcam-models: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

host-venv:
	@$(HOST_PACKAGES) $(VENV_PACKAGES)

host-fleet:
	@$(HOST_PACKAGES) --root-for "the local fleet needs root (systemd-nspawn, overlay mounts): run this as root" \
		$(VENV_PACKAGES) $(FLEET_PACKAGES)

host-test:
	@$(HOST_PACKAGES) --root-for "make test runs the fleet tests, which need root (systemd-nspawn): run it as root, or \`make test-unit\` for the tests that need no root" \
		$(VENV_PACKAGES) $(FLEET_PACKAGES) $(TEST_PACKAGES)

venv: host-venv
	@$(MAKE) --no-print-directory $(BIN)/sentinelcam-models

# Lint, format, types, the import contracts (pyproject.toml) and every shell body as it runs.
check: host-venv
	@$(HOST_PACKAGES) $(VENV_PACKAGES) shellcheck:shellcheck
	@$(MAKE) --no-print-directory $(BIN)/sentinelcam-models
	$(BIN)/ruff check $(PRODUCT) tests benchmarks
	$(BIN)/ruff format --check $(PRODUCT) tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	@for body in $(SCRIPTS)/*.sh; do \
		[ "$$body" = $(SCRIPTS)/lib.sh ] && continue; \
		cat $(SCRIPTS)/lib.sh "$$body" | shellcheck -s sh -e SC2317 - || { echo "shellcheck: $$body"; exit 1; }; \
	done
	shellcheck $(SCRIPTS)/sentinelcam-coral-deb devfleet/host-packages.sh .ci/run

test: host-test
	@$(MAKE) --no-print-directory check
	@echo "$(BIN)/pytest -q $(UNIT_TESTS)"; unit=0; $(UNIT_ENV) $(BIN)/pytest -q $(UNIT_TESTS) || unit=$$?; \
	echo "$(BIN)/pytest -q $(FLEET_TESTS)"; $(BIN)/pytest -q $(FLEET_TESTS) && exit $$unit

test-unit: host-venv
	@$(MAKE) --no-print-directory $(BIN)/sentinelcam-models
	$(UNIT_ENV) $(BIN)/pytest -q $(UNIT_TESTS)

demo: host-fleet
	@$(MAKE) --no-print-directory $(BIN)/sentinelcam-models
	$(BIN)/python -m devfleet.demo

fleet-up: host-fleet venv
	$(BIN)/python -m devfleet up --nodes $(NODES)

fleet-down: venv
	$(BIN)/python -m devfleet down

fleet-reset: host-fleet venv
	$(BIN)/python -m devfleet reset

fleet-status: venv
	$(BIN)/python -m devfleet status

bench: host-fleet venv
	$(BIN)/python benchmarks/run.py

# 20, 50, 100 and 200 nodes (SIZES="..." to choose); at 200 nodes about 8 GB of RAM.
bench-scale: host-fleet venv
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf $(VENV) .pytest_cache
