# AlarmBridge: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest browser screenshots clean bench bench-full bench-smoke faults
.PHONY: deb deploy-tools mqtt-broker rtsp-peer

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "AlarmBridge needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: set everything up and start the appliance on simulated pins
run: $(STAMP)
	$(BIN)/alarmbridge run --pins mock

## test: set everything up and run ruff, mypy and every test
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs on TEST_WORKERS processes (pytest-xdist), each test file on one worker
# (module fixtures such as a browser's appliance start once): most tests wait on real
# processes and peers, so two workers take about 2/3 of the serial time on 2 cores.
# `make pytest TEST_WORKERS=0` runs it serially.
TEST_WORKERS ?= 2
pytest: $(STAMP) browser deploy-tools mqtt-broker rtsp-peer
	$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# browser: Debian's Chromium for tests/browser (Playwright's own download is unreachable).
# Installs it with apt-get when root (CI); otherwise says how, and those tests are skipped.
browser:
	@bash tests/browser/install-chromium.sh

# mqtt-broker: Debian's mosquitto and mosquitto-clients for tests/network (a real broker and
# an independent subscriber). Installs them with apt-get when root (CI); otherwise says how,
# and those tests are skipped (ALARMBRIDGE_REQUIRE_MQTT=1 makes that a failure).
mqtt-broker:
	@bash tests/network/install-mosquitto.sh

# -- the Debian package (deploy/deb/) ----------------------------------------------
## deb: dist/alarmbridge_<version>_<arch>.deb; `make deb ARCH=arm64` for a Pi (no emulation)
deb: $(STAMP)
	@command -v dpkg-deb >/dev/null || bash deploy/deb/install-tools.sh
	ARCH=$(or $(ARCH),amd64) PYTHON=$(BIN)/python bash deploy/deb/build.sh

# rtsp-peer: GStreamer's RTSP server, a live camera stream for tests/evidence.
# Installs it with apt-get when root (CI); otherwise says how, and those tests are skipped.
rtsp-peer:
	@bash tests/evidence/install-gstreamer.sh

# deploy-tools: dpkg-deb, systemd-analyze, debootstrap and systemd-nspawn for tests/deploy.
# Installs them with apt-get when root (CI); otherwise says how, and those tests are skipped.
deploy-tools:
	@bash deploy/deb/install-tools.sh

UI_SHOTS := dashboard dashboard-phone inputs outputs schedules schedules-phone events system simulation \
	event-detail events-phone setup-form dashboard-viewer users-phone
UI_SHOTS += dashboard-overrides walk-test-phone walk-test-report-phone integrations integrations-settings virtual-inputs
UI_SHOTS += event-recorders
UI_SHOTS += integrations-recorders

## screenshots: run the browser tests and copy the current page pictures into docs/img/ui/
screenshots: $(STAMP) browser
	$(BIN)/pytest tests/browser -q
	mkdir -p docs/img/ui
	for name in $(UI_SHOTS); do cp test-artifacts/screenshots/$$name.png docs/img/ui/; done

## bench: the benchmarks (under 10 minutes): bench/results/*.json and docs/performance.md
bench: $(STAMP)
	$(BIN)/python -m bench

## bench-full: the benchmarks plus the slow modes (a 10M-event log, 100k requests)
bench-full: $(STAMP)
	$(BIN)/python -m bench --full

BENCH_SMOKE := test-artifacts/bench-smoke

## bench-smoke: every benchmark at tiny counts, to keep the harness working (figures mean nothing)
bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke --jobs 4 --results $(BENCH_SMOKE)/results \
		--doc $(BENCH_SMOKE)/performance.md --charts $(BENCH_SMOKE)/img \
		--work $(BENCH_SMOKE)/work --cache $(BENCH_SMOKE)/cache

## faults: every fault-injection scenario at full count (tests/faults, about 15 minutes):
## figures in test-artifacts/faults/, reported in docs/reliability.md
faults: $(STAMP)
	$(BIN)/pytest tests/faults tests/network/sia -m faults_full -v

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# ---- SD-card image (deploy/image/README.md) ----
.PHONY: image image-test
AB_IMAGE := dist/alarmbridge-$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)-arm64.img.xz

## image: the SD-card image for the Raspberry Pi 3/4/400/Zero 2 W from Debian packages
## (as root; about 4 minutes, 11 the first time): dist/alarmbridge-VERSION-arm64.img.xz
image:
	$(MAKE) deb ARCH=arm64
	deploy/image/build.sh

## image-test: boot the image under QEMU (-M raspi3b and -M virt) and check it; builds
## it first if there is none. Logs in test-artifacts/image-test/
image-test:
	@test -f $(AB_IMAGE) || test -f $(AB_IMAGE:.xz=) || $(MAKE) image
	$(PYTHON) deploy/image/test.py
