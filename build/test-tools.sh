#!/usr/bin/env bash
# Installs the system tools the tests call, once, on a Debian machine: the official ONNX checker
# (Debian 12's python3-onnx) that OnnxExportTests run on every exported model, and headless Chromium with its
# WebDriver (chromium, chromium-driver) that ExplorerBrowserTests drive. Called by the test project before it
# builds (so `dotnet test` alone sets a fresh machine up); does nothing when all is there.
set -u
need=()
/usr/bin/python3 -c 'import onnx' 2>/dev/null || need+=(python3-onnx)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "warning: the tests need Debian packages ${need[*]}; install them (apt-get install ${need[*]}) or the ONNX checks and browser tests fail" >&2
  exit 0
fi
echo "Installing ${need[*]} for the tests (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
{ apt-get install -y --no-install-recommends "${need[@]}" || { apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }; } >/dev/null \
  || echo "warning: could not install ${need[*]}; the ONNX checks and browser tests will fail" >&2
exit 0
