#!/usr/bin/env bash
# End-to-end test of the desktop app under Xvfb: builds parley-server, the
# parley CLI and parley-desktop, then runs ui/e2e/desktop.e2e.mjs through
# tauri-driver + WebKitWebDriver. Screenshots go to the artifacts folder
# printed at the start (E2E_ARTIFACTS to choose it).
# Needs: webkit2gtk-driver, xvfb (xvfb-run), tauri-driver (cargo install
# tauri-driver --locked), and ui/dist built (npm --prefix ui run build).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/parley/target}
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-$CARGO_TARGET_DIR/e2e-artifacts/desktop-$(date +%Y%m%d-%H%M%S)}
echo "desktop e2e: screenshots in $E2E_ARTIFACTS"
cargo build --locked -p parley-server -p parley-client -p parley-desktop
export PARLEY_SERVER_BIN=$CARGO_TARGET_DIR/debug/parley-server
export PARLEY_CLI_BIN=$CARGO_TARGET_DIR/debug/parley
export PARLEY_DESKTOP_BIN=$CARGO_TARGET_DIR/debug/parley-desktop
export TAURI_DRIVER=${TAURI_DRIVER:-$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")}
# No session bus or keyring on a headless box: the app uses a 0600 file.
export NO_AT_BRIDGE=1
# The scanner step tilts a QR into a camera-like frame with Pillow (the venv of
# ./scripts/test has it).
python3 -c "import PIL" 2>/dev/null || { echo "desktop e2e: python3 with Pillow is needed (run ./scripts/test, or pip install pillow)" >&2; exit 1; }
exec xvfb-run -a -s "-screen 0 1280x800x24" node ui/e2e/desktop.e2e.mjs
