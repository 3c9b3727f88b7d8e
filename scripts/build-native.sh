#!/usr/bin/env bash
# Builds the libtorch addon: incrementally when configured, from scratch otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# Build against the headers of the Node that runs us (never download them: no internet here).
NODEDIR="$(dirname "$(dirname "$(command -v node)")")"
export npm_config_nodedir="$NODEDIR"
# A source added to binding.gyp needs new Makefiles; configuring keeps the built objects.
if [ -f build/Makefile ] && [ binding.gyp -nt build/Makefile ]; then
  npx node-gyp configure --silent >/dev/null || npx node-gyp configure
fi
if [ -f build/Makefile ]; then
  npx node-gyp build -j 2 --silent >/dev/null || npx node-gyp build -j 2
else
  npx node-gyp rebuild -j 2 --silent >/dev/null || npx node-gyp rebuild -j 2   # the second run shows the error
fi
