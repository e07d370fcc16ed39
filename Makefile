# Thin wrapper over CMake. `make demo` and `make test` are the two set-up commands.
BUILD ?= build
BUILD_SAN ?= build-san
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# libcurl of the plain build: system (default) links Debian's shared
# libcurl, so security updates reach it with apt; CURL=lean links the static
# HTTP/HTTPS-only libcurl that scripts/curl.sh builds from Debian's source
# into $(BUILD)/_deps/curl, as the container image does. The sanitizer
# build always links the system's.
CURL ?= system
ifeq ($(CURL),lean)
CURL_PREFIX = $(abspath $(BUILD))/_deps/curl
else ifeq ($(CURL),system)
CURL_PREFIX =
else
$(error CURL is lean or system, not "$(CURL)")
endif

.PHONY: all deps build-deps build build-san test test-fast e2e e2e-deps demo bench fuzz clean

all: build

# Packages (scripts/deps.sh): as root, installs what is missing; otherwise
# prints the one apt-get line to run and stops. deps: everything make test,
# bench and fuzz use; build-deps: what make build compiles.
deps:
	@bash scripts/deps.sh all

build-deps:
	@bash scripts/deps.sh make

build: build-deps
ifeq ($(CURL),lean)
	@bash scripts/curl.sh $(CURL_PREFIX) || { echo "orgsecrets: CURL=lean needs scripts/curl.sh to succeed; the default (CURL=system) links the system libcurl" >&2; exit 1; }
else
	@echo "orgsecrets: linking the system libcurl (CURL=lean: the image's static HTTP/HTTPS-only one)"
endif
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORGSECRETS_WERROR=ON -DORGSECRETS_CURL_PREFIX=$(CURL_PREFIX) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-san: build-deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DORGSECRETS_WERROR=ON -DORGSECRETS_SANITIZE=ON -DORGSECRETS_CURL_PREFIX= $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_SAN) -j $(JOBS)

# Plain build and tests, then the same tests under ASan+UBSan. The e2e
# tests (tests/e2e) run when scripts/kube-e2e.sh has cached the control
# plane, and are skipped, saying so, when not.
test: deps build build-san
	@bash scripts/kube-e2e.sh --locate >/dev/null 2>&1 || \
	  echo "orgsecrets: e2e skipped: no cached Kubernetes control plane; run make e2e or scripts/kube-e2e.sh"
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(BUILD_SAN) && ORGSECRETS_SANITIZED=1 ctest --output-on-failure -j $(JOBS)

# The end-to-end suite alone against a real API server, building and
# caching kube-apiserver and kube-controller-manager first if needed
# (scripts/kube-e2e.sh; ~6 min cold on two cores). One file: E2E=folder.
e2e-deps:
	@bash scripts/deps.sh e2e
	@bash scripts/kube-e2e.sh

e2e: build e2e-deps
	cd $(BUILD) && ctest --output-on-failure -L e2e $(if $(E2E),-R '^e2e_($(E2E))$$')

test-fast: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: deps build
	@bash bench/run.sh $(BUILD)

# libFuzzer targets only (the rest of the tree does not link against the
# fuzzer-instrumented libraries), each run FUZZ_SECONDS on seeded corpora.
FUZZ_SECONDS ?= 20
fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DORGSECRETS_FUZZ=ON -DORGSECRETS_TESTS=OFF >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target fuzz_targets
	@bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
