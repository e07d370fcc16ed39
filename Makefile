# Thin wrapper over CMake. `make demo` and `make test` are the two set-up commands.
BUILD ?= build
BUILD_SAN ?= build-san
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-san test test-fast demo bench fuzz clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORGSECRETS_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DORGSECRETS_WERROR=ON -DORGSECRETS_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_SAN) -j $(JOBS)

# Plain build and tests, then the same tests under ASan+UBSan.
test: build build-san
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(BUILD_SAN) && ORGSECRETS_SANITIZED=1 ctest --output-on-failure -j $(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash bench/run.sh $(BUILD)

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DORGSECRETS_FUZZ=ON -DORGSECRETS_TESTS=OFF >/dev/null
	cmake --build build-fuzz -j $(JOBS)

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
