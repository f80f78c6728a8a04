# ward — convenience targets over CMake. Every target that builds first runs
# scripts/deps.sh, which installs missing Debian packages (quietly, and only
# the missing ones).
#
#   make demo       build, run examples/host_echo with echo_worker, then
#                   examples/ward.ini under `ward run` (scripts/demo_run.sh),
#                   then the extensions example (examples/extensions/) and
#                   `ward ext list` of its extensions, then `ward probe`
#                   (build/tools/ward): what ward does here
#   make check      build, then run every test with ctest
#   make check-windows
#                   cross-build for Windows (mingw-w64, the win backend) in
#                   WIN_BUILD_DIR (build-win) and run its tests under Wine
#                   (cmake/windows.cmake says which run and why the others
#                   do not); installs mingw-w64 and Wine when missing
#   make bench      install what the benchmarks compare with (iceoryx) and
#                   draw with (gnuplot), build, then run every program in
#                   build/bench/ (build-posix/bench/ with BACKEND=posix) and
#                   draw bench_transport's figures in bench/transport.png
#                   there
#   make bench-windows
#                   cross-build, then run the benchmarks ported to Windows
#                   (cmake/windows.cmake) under Wine, in a Wine prefix of
#                   their own whose server runs on CPU 0 (see below)
#   make soak       build, then run tests/soak_cycles: 10,000 spawn -> call ->
#                   stop and 10,000 crash -> restart cycles in one host,
#                   failing if its descriptors or memory grow (SOAK_CYCLES=N)
#   make install    build, then install under PREFIX (default /usr/local)
#   make fuzz       build the fuzz targets of tests/fuzz/ with clang and
#                   libFuzzer (-fsanitize=fuzzer,address,undefined) in
#                   FUZZ_DIR, then run each for FUZZ_SECONDS; stops at the
#                   first target that finds a crash
#   make clean      remove the build directories
#
# Fuzzing: each target starts from its checked-in seeds (tests/fuzz/corpus/
# TARGET, written by tests/fuzz/make_seeds.sh) and the inputs that once
# broke it (tests/fuzz/regress/TARGET); what it learns stays in
# FUZZ_DIR/corpus/TARGET for the next run. A crash leaves its input as
# FUZZ_DIR/crashes/TARGET/crash-HASH (or leak-, timeout-, oom-): run
#   FUZZ_DIR/fuzz/fuzz_TARGET FILE
# to see it again, fix the code, and copy FILE to tests/fuzz/regress/TARGET/
# under a name that says what it broke. `make check` replays every file of
# corpus/ and regress/ in every build (ctest: fuzz_TARGET_replay). Where
# the file is gone (CI's clone), the log printed has the input on its line
# "Base64: ...": `base64 -d >FILE` makes it again.
#
# Variables:
#   WERROR=1                    warnings are errors
#   SANITIZE=address,undefined  instrumented build, in build-san/ (or thread, ...)
#   BUILD_DIR=dir               another build directory
#   BACKEND=posix               the portable POSIX backend (poll, SIGCHLD:
#                               docs/platforms.md) instead of linux, built
#                               in build-posix/ (build-posix-san/ with
#                               SANITIZE) unless BUILD_DIR says otherwise
#   CC=clang                    another compiler (use a fresh BUILD_DIR with it)
#   PREFIX=/opt/ward            where `make install` puts ward
#   FUZZ_SECONDS=30             how long `make fuzz` runs each target (60)
#   FUZZ_TARGETS="frame hello"  which targets it runs (all of tests/fuzz/)
#   FUZZ_DIR=dir                its build directory (build-fuzz)
#   WIN_BUILD_DIR=dir           the build directory of check-windows (build-win)

MAKEFLAGS += --no-print-directory

PREFIX ?= /usr/local
SOAK_CYCLES ?= 10000
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2

BACKEND ?= linux
ifeq ($(BACKEND),linux)
BACKEND_SUFFIX :=
else
BACKEND_SUFFIX := -$(BACKEND)
endif
ifeq ($(strip $(SANITIZE)),)
BUILD_DIR ?= build$(BACKEND_SUFFIX)
else
BUILD_DIR ?= build$(BACKEND_SUFFIX)-san
endif

CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
               -DWARD_WERROR=$(if $(filter 1 ON on yes YES true,$(WERROR)),ON,OFF) \
               -DWARD_SANITIZE=$(strip $(SANITIZE)) \
               -DWARD_BACKEND=$(BACKEND)
# Make always defines CC; hand it to CMake only when someone chose it.
ifneq ($(origin CC),default)
CMAKE_FLAGS += -DCMAKE_C_COMPILER=$(CC)
endif

FUZZ_SECONDS ?= 60
FUZZ_DIR ?= build-fuzz
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
# Paths given to a fuzz target are absolute: a target may change its
# directory (fuzz_config runs in an empty one).
FUZZ := $(abspath $(FUZZ_DIR))

WIN_BUILD_DIR ?= build-win

.PHONY: all deps build demo check check-windows build-windows bench bench-deps bench-windows soak install \
        fuzz clean

all: build

deps:
	@bash scripts/deps.sh

# Configuring every time is cheap once the cache exists, and it makes a change
# of WERROR or SANITIZE take effect.
build: deps
	@mkdir -p $(BUILD_DIR)
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >$(BUILD_DIR)/configure.log 2>&1 \
	  || { cat $(BUILD_DIR)/configure.log; exit 1; }
	cmake --build $(BUILD_DIR) -j$(JOBS)

demo: build
	$(BUILD_DIR)/examples/host_echo $(BUILD_DIR)/examples/echo_worker
	@echo
	@bash scripts/demo_run.sh $(BUILD_DIR)/tools/ward
	@echo
	$(BUILD_DIR)/examples/host_extensions $(BUILD_DIR)/examples/extensions
	@echo
	$(BUILD_DIR)/tools/ward ext list $(BUILD_DIR)/examples/extensions
	@echo
	$(BUILD_DIR)/tools/ward probe

check: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)

# The Windows build: its own directory, the toolchain file, warnings as
# errors as asked, the benchmarks that are ported (a build directory made
# when they were not has them switched off in its cache). Wine's server is kept for 30 s after the last test, so
# each test does not pay for starting it (it ends by itself), and one
# program runs alone first: two Wine programs starting together on a fresh
# server wait for each other for half a minute.
build-windows:
	@bash scripts/deps.sh windows
	@mkdir -p $(WIN_BUILD_DIR)
	@cmake -S . -B $(WIN_BUILD_DIR) -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
	  -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DWARD_BUILD_BENCH=ON \
	  -DWARD_WERROR=$(if $(filter 1 ON on yes YES true,$(WERROR)),ON,OFF) \
	  >$(WIN_BUILD_DIR)/configure.log 2>&1 \
	  || { cat $(WIN_BUILD_DIR)/configure.log; exit 1; }
	cmake --build $(WIN_BUILD_DIR) -j$(JOBS)

check-windows: build-windows
	@WINEDEBUG=-all wineserver -p30 || true # exits 2 when one already runs: it is used
	@WINEDEBUG=-all wine cmd /c exit
	WINEDEBUG=-all ctest --test-dir $(WIN_BUILD_DIR) --output-on-failure -j$(JOBS)

bench-deps:
	@bash scripts/deps.sh bench

bench: bench-deps build
	@set -e; found=0; \
	for b in $(BUILD_DIR)/bench/*; do \
	  [ -f "$$b" ] && [ -x "$$b" ] || continue; \
	  found=1; echo "== $$b"; "$$b"; \
	done; \
	[ $$found -eq 1 ] || echo "no benchmarks in $(BUILD_DIR)/bench/"; \
	python3 bench/plot_transport.py $(BUILD_DIR)/bench/results.json $(BUILD_DIR)/bench/transport.png

# Under Wine every transfer on a named pipe is a request to the Wine
# server, so the benchmarks run in a prefix of their own (made on the
# first run, in WIN_BUILD_DIR), which no other Wine program shares, and
# its server is started on CPU 0: "same CPU" figures then have every
# process of a round trip on one CPU, the server too. It ends by itself
# 10 s after the last program; one still running from a run just before
# is kept (wineserver then exits 2).
bench-windows: build-windows
	@set -e; export WINEDEBUG=-all WINEPREFIX=$(abspath $(WIN_BUILD_DIR))/wineprefix; \
	mkdir -p "$$WINEPREFIX"; \
	if command -v taskset >/dev/null 2>&1; then taskset -c 0 wineserver -p10 || true; \
	else wineserver -p10 || true; fi; \
	wine cmd /c exit; \
	found=0; \
	for b in $(WIN_BUILD_DIR)/bench/*.exe; do \
	  [ -f "$$b" ] || continue; \
	  found=1; echo "== $$b"; wine "$$b"; \
	done; \
	[ $$found -eq 1 ] || echo "no benchmarks in $(WIN_BUILD_DIR)/bench/"

soak: build
	$(BUILD_DIR)/tests/soak_cycles --cycles $(SOAK_CYCLES)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# Its own build: clang, the library instrumented for libFuzzer, ASan and
# UBSan, nothing but the fuzz targets. Each run is one process, given a
# memory limit and a per-input timeout, so that a slow or greedy input is a
# finding too.
fuzz: deps
	@mkdir -p $(FUZZ_DIR)
	@cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
	  -DWARD_FUZZ=ON -DWARD_SANITIZE=address,undefined -DWARD_WERROR=ON \
	  -DWARD_BUILD_TESTS=OFF -DWARD_BUILD_EXAMPLES=OFF -DWARD_BUILD_BENCH=OFF \
	  -DWARD_BUILD_TOOLS=OFF >$(FUZZ_DIR)/configure.log 2>&1 \
	  || { cat $(FUZZ_DIR)/configure.log; exit 1; }
	cmake --build $(FUZZ_DIR) -j$(JOBS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  mkdir -p $(FUZZ)/corpus/$$t $(FUZZ)/crashes/$$t; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ)/crashes/$$t/ \
	    $(FUZZ)/corpus/$$t $(CURDIR)/tests/fuzz/corpus/$$t \
	    $$( [ -d tests/fuzz/regress/$$t ] && echo $(CURDIR)/tests/fuzz/regress/$$t ) \
	    >$(FUZZ)/fuzz_$$t.log 2>&1 \
	  || { tail -n 60 $(FUZZ)/fuzz_$$t.log; \
	       echo "fuzz_$$t found a crash: $$(ls -t $(FUZZ)/crashes/$$t | head -n 1)"; \
	       echo "(in $(FUZZ_DIR)/crashes/$$t/; the Makefile's header says what next)"; \
	       exit 1; }; \
	  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' \
	    $(FUZZ)/fuzz_$$t.log || true; \
	done

clean:
	rm -rf $(sort build build-san build-clang build-posix build-posix-san build-fuzz build-win $(BUILD_DIR) $(FUZZ_DIR) $(WIN_BUILD_DIR))
