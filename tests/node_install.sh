#!/bin/sh
# node_install.sh SOURCE_DIR BUILD_DIR NODE NPM WARD — the Node package
# installs as its README says, offline: `npm pack` of bindings/node, then
# `npm install` of that tarball into a fresh folder (no registry: the
# package has no dependencies; npm's cache is a scratch folder), and the
# example conformance worker, copied there so that require('ward') finds
# the installed package and nothing else (no NODE_PATH), passes
# `ward conform`.
set -eu
src=$1 build=$2 node=$3 npm=$4 ward=$5
work=$build/node-install
rm -rf "$work"
mkdir -p "$work/app"
export npm_config_cache="$work/cache" npm_config_update_notifier=false
unset NODE_PATH
cd "$work"
tarball=$("$npm" pack --silent --pack-destination "$work" "$src/bindings/node" | tail -n 1)
cd "$work/app"
echo '{"name": "app", "version": "1.0.0", "private": true}' >package.json
"$npm" install --silent --offline --no-audit --no-fund "$work/$tarball"
test -f node_modules/ward/lib/worker.js
test ! -L node_modules/ward   # a copy, not a link to the source tree
cp "$src/examples/node/conform_worker.js" .
"$node" -e 'console.log("installed ward", require("ward/package.json").version, "at", require.resolve("ward"))'
"$ward" conform "$node" conform_worker.js
