#!/usr/bin/env bash
# Set-up for a fresh Debian machine: installs the system packages that are missing,
# the npm packages, then builds the libtorch addon and the TypeScript.
#   libtorch-dev          the engine (skipped when LIBTORCH points at an unpacked libtorch)
#   libopenblas0-pthread  fast BLAS; without it libtorch's matmul is ~30x slower
#   python3-torch         PyTorch: the oracle of the parity tests and the peer of the benchmarks
#   dataset-fashion-mnist the demo's dataset (/usr/share/datasets/fashion-mnist)
#   chromium              the browser the report and dashboard tests drive (playwright-core)
#   python3-onnx          the official ONNX checker, run by the export tests
#   python3-jinja2        a second Jinja engine: the oracle of the chat-template tests
#   libgloo-dev           Gloo's headers: libtorch's c10d ProcessGroupGloo header includes them (data-parallel training)
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(libopenblas0-pthread python3-torch python3-numpy python3-onnx python3-jinja2 dataset-fashion-mnist chromium g++ make python3)
# node-gyp needs Node's headers; Debian's own nodejs keeps them in libnode-dev.
[ -f "$(dirname "$(dirname "$(command -v node)")")/include/node/node_api.h" ] || pkgs+=(libnode-dev)
[ -n "${LIBTORCH:-}" ] || pkgs+=(libtorch-dev libgloo-dev)   # a LIBTORCH build needs gloo/ headers in its own include/
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package.json -nt node_modules ] || [ package-lock.json -nt node_modules ]; then
  echo "setup: installing npm packages"
  # onnxruntime-node's CPU binaries ship in its package; its installer would fetch CUDA files from
  # NuGet. package.json's allowScripts denies that script (npm ≥ 11 with install-script policies);
  # the variable, which the installer itself reads, covers older npm.
  export ONNXRUNTIME_NODE_INSTALL=skip
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules
fi
echo "setup: building the libtorch addon"
node scripts/gen-ops.mjs
bash scripts/build-native.sh
echo "setup: compiling TypeScript"
npx tsc -b   # src/ → dist/src (the package, with declarations), then test/ and bench/ → dist/test, dist/bench
node scripts/build-browser.mjs   # src/*/browser/ → dist/browser/*.js (esbuild), inlined by the pages
echo "setup: done"
