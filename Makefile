# hearth: the commands a developer needs. CMake does the building; this file wraps it.
#
#   make          install dependencies (first time) and build build/hearth
#   make test     build (and make static), run every test, then run them again under ASan+UBSan
#   make serve    build and run the server on 127.0.0.1:11434 (SERVE_ARGS=... for other flags)
#   make lint     clang-format check, clang-tidy, cppcheck
#   make asan     the sanitizer build alone (build-asan/) and its tests
#   make bench    hearth against llama-server built from the same llama.cpp (bench/RESULTS.md)
#   make fuzz-smoke  every tests/fuzz target under libFuzzer for FUZZ_SECONDS (60) each (clang)
#   make tsan     the ThreadSanitizer build (build-tsan/, clang) and its tests (ctest -L tsan)
#   make soak     64 streaming clients against a real server for SOAK_SECONDS (bench/soak.mjs)
#   make CUDA=1   the same against libllama with ggml's CUDA backend (deps/llama-cuda, build-cuda/)
#   make static   hearth with libllama and the other libraries linked in (build-static/), the
#                 executable `hearth bundle` should run from

JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CUDA ?=
ifeq ($(CUDA),1)
BUILD ?= build-cuda
CMAKE_FLAGS += -DHEARTH_LLAMA_PREFIX=$(CURDIR)/deps/llama-cuda
DEPS_READY = deps/.ready-cuda
else
BUILD ?= build
DEPS_READY = deps/.ready
endif
ASAN_BUILD ?= build-asan
STATIC_BUILD ?= build-static

.PHONY: all deps build test test-main test-asan asan serve lint format clean distclean bench \
	fuzz-smoke static tsan soak

all: build

deps/.ready: scripts/deps.sh src/web/package-lock.json tests/node/package-lock.json
	bash scripts/deps.sh
	touch $@

# The static libllama for bundles comes on top of the usual dependencies.
deps/.ready-static: deps/.ready scripts/deps.sh
	bash scripts/deps.sh --static
	touch $@

static: deps/.ready-static
	cmake -S . -B $(STATIC_BUILD) -DHEARTH_STATIC=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(STATIC_BUILD) -j $(JOBS) --target hearth

# The CUDA build of libllama comes on top of the usual dependencies.
deps/.ready-cuda: deps/.ready scripts/deps.sh
	bash scripts/deps.sh --cuda
	touch $@

deps: $(DEPS_READY)

build: $(DEPS_READY)
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: test-main test-asan

# The static build comes first: test_bundle checks its bundles with ldd (cached after the first
# run: about 4 minutes of libllama on 2 cores, then hearth itself).
test-main: build static
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

asan: deps/.ready
	cmake -S . -B $(ASAN_BUILD) -DHEARTH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

test-asan: asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# The shared test models are served when they are there; SERVE_ARGS replaces the flags.
SERVE_ARGS ?= $(if $(wildcard ../shared/models),--models-dir ../shared/models,)

serve: build
	$(BUILD)/hearth serve $(SERVE_ARGS)

# hearth against llama-server from the same llama.cpp (not part of test): bench/run.sh.
bench: build
	bash bench/run.sh

# libFuzzer over every tests/fuzz/fuzz_*.c, FUZZ_SECONDS each (build-fuzz/; not part of test).
fuzz-smoke: deps/.ready
	bash scripts/fuzz-smoke.sh

# ThreadSanitizer over the scheduler and streaming tests (not part of test): scripts/tsan.sh.
tsan: deps/.ready
	bash scripts/tsan.sh

# The soak (not part of test): a real server, 64 streaming clients, 10 % hanging up, for
# SOAK_SECONDS (300; 3600 for the record); results into bench/RESULTS.md.
soak: build
	HEARTH=$(CURDIR)/$(BUILD)/hearth node bench/soak.mjs

C_FILES = $(shell git ls-files '*.c' '*.h')

lint: build
	clang-format --dry-run -Werror $(C_FILES)
	clang-tidy --quiet -p $(BUILD) $(filter %.c,$(C_FILES))
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --std=c11 -I src --include=/usr/include/jansson.h $(filter %.c,$(C_FILES))

format:
	clang-format -i $(C_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(STATIC_BUILD) build-fuzz build-tsan

distclean: clean
	rm -rf deps
