#!/usr/bin/env bash
# deps.sh — installs the Debian packages ward needs to build and test, and
# only those that are missing. Silent when everything is there; needs no
# terminal (CI runs it with no stdin). The one place packages are listed:
# `make deps`, `make build`, `make check` and `make demo` all come here;
# `deps.sh windows` installs the cross compiler and Wine instead, for
# `make check-windows` alone; `deps.sh bench` adds what `make bench`
# compares with (iceoryx) and draws with (gnuplot).
set -euo pipefail

# ---- Packages ward needs. Add new ones here, one a line, with why. ------
PACKAGES=(
  build-essential # gcc, make and the C library headers
  cmake           # the build (3.25 or newer)
  pkg-config      # the install test checks ward.pc with it
  clang           # CI builds with a second compiler
  libclang-rt-dev # clang's sanitizer and libFuzzer runtimes (libclang-rt-14-dev on
                  # Debian 12): the TSan build of CI and `make fuzz`; clang alone
                  # only recommends them
  libjansson-dev  # the JSON layer (jansson)
  libmsgpack-dev  # MessagePack in the tests and examples (msgpack-c)
  libuv1-dev      # the example that runs ward inside a libuv loop
  libinih-dev     # the configuration file of `ward run` (inih)
  libsystemd-dev  # `ward run` under systemd: sd_notify readiness and watchdog, --journal
                  # (tools/ward/sysd.c)
  util-linux      # unshare: test_deploy runs `ward run` as PID 1 of a new PID namespace
  libmicrohttpd-dev # the HTTP pages of `ward run` ([ward] http: health, readiness,
                  # status, metrics), served without a thread of its own
  curl            # tests/test_http fetches those pages with a real HTTP client
  libseccomp-dev  # the sandbox's system-call filter (src/linux/sandbox.c): the Linux
                  # backend only; the portable backend and the IPC core do without
  python3         # tests/test_protocol_doc runs the Python example worker of docs/protocol.md;
                  # tests/completion_test.sh a socket that never answers;
                  # bindings/python is the Python package (tests/test_python, python_*)
  python3-pytest  # the Python package's own tests (ctest python_pytest)
  python3-msgpack # the Python package's MessagePack payloads, which the tests exercise (the
                  # package itself needs only the standard library)
  python3-venv    # python_install: `pip install bindings/python` into a fresh venv, offline
  python3-pip     # (pip itself, for that install)
  groff-base      # groff: tests/man_test.sh checks that the manual pages (docs/man/) render
                  # without warnings, and reads them as text
  valgrind        # valgrind.h: src/unix/spawn.c asks whether it runs under valgrind (which
                  # cannot follow its clone); bench_rtt counts instructions with callgrind
  nodejs          # bindings/node, the Node package (Node 18 or newer): its tests (ctest
                  # node_test), the Node conformance worker (conform_node), bench_peers'
                  # Node worker and its child_process.fork peer
  npm             # node_install: `npm install` of bindings/node into a fresh folder, offline
                  # (a NodeSource nodejs provides npm itself: see installed() below)
)
# ---- For `make bench` only (`deps.sh bench`): what the benchmarks compare
# ward with, and what draws their figures.
BENCH_PACKAGES=(
  iceoryx                  # iox-roudi, the daemon iceoryx's programs need
  libiceoryx-binding-c-dev # iceoryx's C binding: bench_transport's zero-copy peer
  gnuplot-nox              # bench/plot_transport.py draws the round trip against size
)
# ---- For Windows, only when asked (`deps.sh windows`: make check-windows).
WINDOWS_PACKAGES=(
  gcc-mingw-w64-x86-64 # the cross compiler for the win backend (and winpthreads)
  wine64               # runs the Windows tests here
)
# -------------------------------------------------------------------------
if [ "${1:-}" = windows ]; then
  PACKAGES=(cmake "${WINDOWS_PACKAGES[@]}")
elif [ "${1:-}" = bench ]; then
  PACKAGES+=("${BENCH_PACKAGES[@]}")
elif [ -n "${1:-}" ]; then
  echo "usage: deps.sh [windows|bench]" >&2
  exit 2
fi

export DEBIAN_FRONTEND=noninteractive

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "deps.sh: not a Debian-like system; please install: ${PACKAGES[*]}" >&2
  exit 0
fi

# Installed, or provided by an installed package (NodeSource's nodejs
# provides, and conflicts with, Debian's npm: asking for npm there would fail).
installed() {
  local status
  if status=$(dpkg -s "$1" 2>/dev/null) && grep -q '^Status: .* installed$' <<<"$status"; then
    return 0
  fi
  dpkg-query -W -f '${db:Status-Status} ${Provides}\n' 2>/dev/null | awk -v p="$1" '
    $1 == "installed" { for (i = 2; i <= NF; i++) { w = $i; sub(/,$/, "", w); if (w == p) found = 1 } }
    END { exit !found }'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

# Root installs directly; anyone else goes through sudo, which must not
# wait for a password nobody can type when there is no terminal.
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "deps.sh: missing ${missing[*]}, and not root nor able to sudo" >&2
    exit 1
  fi
  sudo=(sudo)
  [ -t 0 ] || sudo+=(-n)
  sudo+=(env DEBIAN_FRONTEND=noninteractive)
fi

echo "deps.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq </dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Use-Pty=0 "${missing[@]}" </dev/null >/dev/null
echo "deps.sh: done"
