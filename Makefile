# clipd: `make run` and `make test` are the two commands; `make help` lists the rest.
SWIFT ?= swift
RUN_ARGS ?=
PREFIX ?= /usr/local
DESTDIR ?=

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: help deps test-deps build release run install test lint bench fuzz soak attack test-sanitize clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

deps:  ## Install the system packages needed to build (apt-get, only what is missing)
	@scripts/install-deps.sh build

test-deps:  ## Install the packages the tests use as well
	@scripts/install-deps.sh test

build: deps  ## Debug build of everything, tests included
	$(SWIFT) build --build-tests

release: deps  ## Optimised build of clipd
	$(SWIFT) build -c release --static-swift-stdlib --product clipd

run: release  ## Build and run `clipd run` with its default configuration
	.build/release/clipd run $(RUN_ARGS)

install: release  ## Install binaries, systemd units, udev rule, completions, man pages under PREFIX (/usr/local); DESTDIR stages
	$(SWIFT) build -c release --static-swift-stdlib --product passvm
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh .build/release

test: test-deps  ## Every test: unit, vectors, multi-daemon integration, Dockerfile lint
	@mkdir -p .build
	@echo "swift build --build-tests (log: .build/build.log)"
	@$(SWIFT) build --build-tests > .build/build.log 2>&1 || { cat .build/build.log; exit 1; }
	@grep -E '(error|warning):' .build/build.log | grep -v '^/opt/' | sort -u || true
	@scripts/check-warnings.sh .build/build.log
	SWIFT="$(SWIFT)" scripts/run-tests.py --skip-build --parallel
	hadolint Dockerfile
	scripts/test-make-run.sh
	@echo "make test: all passed"

lint: test-deps  ## Zero-warning check of a full rebuild of the project's own code, plus hadolint
	@mkdir -p .build
	rm -rf .build/debug/Clip*.build .build/debug/clipd*.build .build/debug/CClipSystem.build
	@$(SWIFT) build --build-tests > .build/build.log 2>&1 || { cat .build/build.log; exit 1; }
	@scripts/check-warnings.sh .build/build.log
	hadolint Dockerfile
	@echo "make lint: no warnings"

bench: release test-deps  ## Performance figures (throughput, latency, idle CPU and memory)
	$(SWIFT) build -c release --product clipd-bench
	$(SWIFT) build -c release --product clipd-model-agent
	$(SWIFT) build -c release --static-swift-stdlib --product passvm
	.build/release/clipd-bench

fuzz: test-deps  ## libFuzzer on every decoder, FUZZ_SECONDS (60) each; FUZZ_TARGETS="a b" for some
	$(SWIFT) build -c release --product clipd-fuzz --build-path .build/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" scripts/fuzz.sh

attack: test-deps  ## The security review's attacks at full size against live daemons; prints what held (minutes)
	$(SWIFT) build --build-tests
	scripts/attack.sh

soak: test-deps  ## Three daemons, 10,000 copies from every side; memory and descriptors checked (minutes)
	$(SWIFT) build --build-tests
	CLIPD_SOAK=1 $(SWIFT) test --skip-build --filter SoakTests

test-sanitize: test-deps  ## The whole suite under AddressSanitizer, then under ThreadSanitizer (daemons too)
	@scripts/test-sanitize.sh

clean:  ## Remove build products
	rm -rf .build
