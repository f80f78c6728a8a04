#!/bin/sh
# install_test.sh SOURCE_DIR BUILD_DIR
#
# Installs the build into a scratch prefix, then builds and runs
# tests/install_consumer.c against it twice: with pkg-config, and from a
# small CMake project that uses find_package(ward); then, when the build
# has the tool, runs the installed `ward probe` and looks for its manual
# pages and its bash completion. Run by ctest
# (install_pkgconfig). Exits 77 (skipped) in a sanitizer build, whose
# library an uninstrumented consumer cannot link.
set -eu

src=${1:?usage: install_test.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: install_test.sh SOURCE_DIR BUILD_DIR}
cc=${CC:-cc}

if [ -n "${WARD_SANITIZE:-}" ]; then
  echo "install_test: skipped in a sanitizer build (WARD_SANITIZE=$WARD_SANITIZE)"
  exit 77
fi

tmp=$(mktemp -d "$build/install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
prefix=$tmp/prefix

step() { echo "install_test: $*"; }

step "cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; exit 1; }

# GNUInstallDirs may choose lib, lib64 or lib/<multiarch>: ask the tree.
pc=$(find "$prefix" -name ward.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || { echo "install_test: no ward.pc installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
[ -f "$prefix/include/ward.h" ] || { echo "install_test: no ward.h installed"; exit 1; }

step "pkg-config: $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs ward)"
# Word splitting of the pkg-config output is intended.
# shellcheck disable=SC2046
"$cc" -o "$tmp/consumer_pc" "$src/tests/install_consumer.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs ward)
LD_LIBRARY_PATH="$libdir" "$tmp/consumer_pc"

step "find_package(ward) with ward::ward and ward::ward_static"
mkdir -p "$tmp/cmake-consumer"
cat >"$tmp/cmake-consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(ward_consumer LANGUAGES C)
find_package(ward 0.1 REQUIRED)
add_executable(consumer_shared "$src/tests/install_consumer.c")
target_link_libraries(consumer_shared PRIVATE ward::ward)
add_executable(consumer_static "$src/tests/install_consumer.c")
target_link_libraries(consumer_static PRIVATE ward::ward_static)
CMAKE
cmake -S "$tmp/cmake-consumer" -B "$tmp/cmake-build" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 ||
  { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1 ||
  { cat "$tmp/cmake.log"; exit 1; }
LD_LIBRARY_PATH="$libdir" "$tmp/cmake-build/consumer_shared"
"$tmp/cmake-build/consumer_static"

# The tool is optional (WARD_BUILD_TOOLS): expect it installed when built.
if [ -x "$build/tools/ward" ]; then
  step "bin/ward probe --quick, from another directory"
  [ -x "$prefix/bin/ward" ] || { echo "install_test: no bin/ward installed"; exit 1; }
  # It starts its own worker through /proc/self/exe: the installed copy
  # must work on its own, wherever it is run from.
  (cd "$tmp" && "$prefix/bin/ward" probe --quick) >"$tmp/probe.log" 2>&1 ||
    { cat "$tmp/probe.log"; exit 1; }
  tail -n 1 "$tmp/probe.log"

  step "the manual pages and the bash completion"
  for page in man1/ward.1 man1/ward-run.1 man1/ward-ctl.1 man1/ward-probe.1 \
              man1/ward-ext.1 man5/ward.ini.5; do
    [ -s "$prefix/share/man/$page" ] || { echo "install_test: no share/man/$page installed"; exit 1; }
  done
  # Where man looks for them, by name and section.
  if command -v man >/dev/null 2>&1; then
    for name in ward ward-run ward-ctl ward.ini; do
      found=$(MANPATH="$prefix/share/man" man -w "$name" 2>/dev/null) || found=
      case $found in
      "$prefix"/share/man/*) ;;
      *) echo "install_test: man -w $name finds '$found', not the installed page"; exit 1 ;;
      esac
    done
  fi
  completion=$prefix/share/bash-completion/completions/ward
  [ -s "$completion" ] || { echo "install_test: no share/bash-completion/completions/ward"; exit 1; }
  bash -c '. "$1" && complete -p ward' _ "$completion" >/dev/null ||
    { echo "install_test: the installed completion does not register for ward"; exit 1; }
fi

step "ok"
