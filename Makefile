# ward — convenience targets over CMake. Every target that builds first runs
# scripts/deps.sh, which installs missing Debian packages (quietly, and only
# the missing ones).
#
#   make demo       build, run examples/host_echo with echo_worker, then
#                   examples/ward.ini under `ward run` (scripts/demo_run.sh),
#                   then `ward probe` (build/tools/ward): what ward does here
#   make check      build, then run every test with ctest
#   make bench      build, then run every program in build/bench/
#   make soak       build, then run tests/soak_cycles: 10,000 spawn -> call ->
#                   stop and 10,000 crash -> restart cycles in one host,
#                   failing if its descriptors or memory grow (SOAK_CYCLES=N)
#   make install    build, then install under PREFIX (default /usr/local)
#   make clean      remove the build directories
#
# Variables:
#   WERROR=1                    warnings are errors
#   SANITIZE=address,undefined  instrumented build, in build-san/ (or thread, ...)
#   BUILD_DIR=dir               another build directory
#   CC=clang                    another compiler (use a fresh BUILD_DIR with it)
#   PREFIX=/opt/ward            where `make install` puts ward

MAKEFLAGS += --no-print-directory

PREFIX ?= /usr/local
SOAK_CYCLES ?= 10000
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2

ifeq ($(strip $(SANITIZE)),)
BUILD_DIR ?= build
else
BUILD_DIR ?= build-san
endif

CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
               -DWARD_WERROR=$(if $(filter 1 ON on yes YES true,$(WERROR)),ON,OFF) \
               -DWARD_SANITIZE=$(strip $(SANITIZE))
# Make always defines CC; hand it to CMake only when someone chose it.
ifneq ($(origin CC),default)
CMAKE_FLAGS += -DCMAKE_C_COMPILER=$(CC)
endif

.PHONY: all deps build demo check bench soak install clean

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
	$(BUILD_DIR)/tools/ward probe

check: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)

bench: build
	@set -e; found=0; \
	for b in $(BUILD_DIR)/bench/*; do \
	  [ -f "$$b" ] && [ -x "$$b" ] || continue; \
	  found=1; echo "== $$b"; "$$b"; \
	done; \
	[ $$found -eq 1 ] || echo "no benchmarks in $(BUILD_DIR)/bench/"

soak: build
	$(BUILD_DIR)/tests/soak_cycles --cycles $(SOAK_CYCLES)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

clean:
	rm -rf $(sort build build-san build-clang $(BUILD_DIR))
