#!/bin/sh
# python_install.sh SOURCE_DIR BUILD_DIR PYTHON — the Python package
# installs as its README says, offline: `pip install` of bindings/python
# into a fresh venv (with the system's site packages: Debian's pip and
# setuptools build it, --no-build-isolation, --no-index), and a worker on the
# installed package (nothing on PYTHONPATH) serves the C example host.
# The copy keeps the build's files (build/, *.egg-info) out of the source
# tree.
set -eu
src=$1 build=$2 python=$3
work=$build/python-install
rm -rf "$work"
mkdir -p "$work"
cp -R "$src/bindings/python" "$work/src"
"$python" -m venv --system-site-packages --without-pip "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --no-build-isolation --no-index \
  --no-cache-dir --disable-pip-version-check "$work/src"
rm -rf "$work/src"
unset PYTHONPATH
cd "$work"
"$work/venv/bin/python" -c '
import sys, ward
assert ward.__file__.startswith(sys.prefix + "/"), ward.__file__
print("installed ward", ward.__version__, "at", ward.__file__)'
"$build/examples/python/host_python" "$work/venv/bin/python" \
  "$src/examples/python/rows_worker.py"
