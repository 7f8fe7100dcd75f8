#!/usr/bin/env bash
# build/bundle-macos.sh — on a Mac (Apple silicon), builds LMX.app:
#
#   LMX.app/Contents/Info.plist              build/darwin/Info.plist, versioned
#   LMX.app/Contents/MacOS/lmx               the desktop binary (Wails window + tray + server; cgo)
#   LMX.app/Contents/Resources/iconfile.icns from build/icons (iconutil)
#   LMX.app/Contents/Frameworks/             liblmxshim.dylib, libmlx.dylib, mlx.metallib,
#                                            libllguidance.dylib (metal.Load looks in
#                                            <exe>/../Frameworks; the shim finds libmlx
#                                            through @loader_path, MLX its metallib beside itself)
#
# then signs it: with hardened runtime, build/darwin/entitlements.plist and a
# secure timestamp when LMX_SIGN_IDENTITY names a "Developer ID Application"
# identity, else ad hoc (runs on this Mac only); and, when credentials are
# given, notarizes it with notarytool and staples the ticket.
#
#   build/bundle-macos.sh                      -> build/bin/LMX.app
#   LMX_SIGN_IDENTITY="Developer ID Application: NAME (TEAMID)" build/bundle-macos.sh
#   LMX_NOTARY_PROFILE=lmx build/bundle-macos.sh          (xcrun notarytool store-credentials lmx …)
#   APPLE_ID=… APPLE_TEAM_ID=… APPLE_APP_PASSWORD=… build/bundle-macos.sh
#   LMX_VERSION=1.2.3 OUT=dist build/bundle-macos.sh
#   build/bundle-macos.sh --print-layout       (any OS) the bundle paths, for the tests
#
# Needs: Go, Xcode command line tools (clang, codesign, iconutil, plutil,
# notarytool), Node.js/npm for the UI, and build/lib with the macOS MLX
# runtime (build/mlx.sh) and llguidance (build/llguidance.sh): missing ones
# are built first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The bundle's layout. app/guitest and build/darwin's test read it through
# --print-layout, so the loader's search path and this script cannot drift.
APP_NAME=LMX.app
EXECUTABLE=lmx                     # Info.plist CFBundleExecutable
MACOS_DIR=Contents/MacOS
FRAMEWORKS_DIR=Contents/Frameworks # metal/load.go: <exe>/../Frameworks
RESOURCES_DIR=Contents/Resources
ICON_FILE=iconfile                 # Info.plist CFBundleIconFile (.icns)
FRAMEWORKS=(liblmxshim.dylib libmlx.dylib mlx.metallib libllguidance.dylib)

die() { echo "build/bundle-macos.sh: $*" >&2; exit 1; }

if [[ ${1:-} == --print-layout ]]; then
  echo "app $APP_NAME"
  echo "executable $MACOS_DIR/$EXECUTABLE"
  echo "frameworks $FRAMEWORKS_DIR"
  echo "resources $RESOURCES_DIR"
  echo "icon $ICON_FILE.icns"
  for f in "${FRAMEWORKS[@]}"; do echo "framework $f"; done
  exit 0
fi
[[ $# -eq 0 ]] || die "unknown argument $1 (usage: build/bundle-macos.sh [--print-layout])"

[[ $(uname -s) == Darwin ]] ||
  die "LMX.app is built on macOS (Wails' Cocoa window needs cgo with Apple's SDK; iconutil and codesign are macOS tools); this is $(uname -s). On Linux, \`make build\` builds the desktop binary."
[[ $(uname -m) == arm64 ]] || die "MLX's Metal backend needs Apple silicon (arm64); this Mac is $(uname -m)"
for tool in go clang codesign iconutil plutil ditto xcrun npm; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found (Go from go.dev, Xcode tools with xcode-select --install, Node.js for the UI)"
done

OUT="${OUT:-$ROOT/build/bin}"
APP="$OUT/$APP_NAME"
LIB="$ROOT/build/lib"
VERSION="${LMX_VERSION:-$(plutil -extract CFBundleShortVersionString raw "$ROOT/build/darwin/Info.plist")}"
[[ $VERSION =~ ^[0-9]+(\.[0-9]+){0,2}$ ]] || die "LMX_VERSION must be N[.N[.N]] (CFBundleVersion), not $VERSION"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. The runtime libraries (macOS builds of MLX + the shim, and llguidance).
[[ -f $LIB/liblmxshim.dylib && -f $LIB/libmlx.dylib && -f $LIB/mlx.metallib ]] || "$ROOT/build/mlx.sh"
[[ -f $LIB/libllguidance.dylib ]] || "$ROOT/build/llguidance.sh"
for f in "${FRAMEWORKS[@]}"; do
  [[ -f $LIB/$f ]] || die "$LIB/$f is missing after build/mlx.sh and build/llguidance.sh"
done

# 2. The UI, embedded in the binary.
"$ROOT/build/setup.sh" npm
(cd "$ROOT/frontend" && npm run build --silent) || die "the UI did not build (cd frontend && npm run build)"

# 3. The bundle.
rm -rf "$APP"
mkdir -p "$APP/$MACOS_DIR" "$APP/$FRAMEWORKS_DIR" "$APP/$RESOURCES_DIR"
echo "bundle: building $EXECUTABLE $VERSION for darwin/arm64" >&2
(cd "$ROOT" && CGO_ENABLED=1 GOOS=darwin GOARCH=arm64 MACOSX_DEPLOYMENT_TARGET=14.0 \
  CGO_CFLAGS="-mmacosx-version-min=14.0" \
  CGO_LDFLAGS="-mmacosx-version-min=14.0 -framework UniformTypeIdentifiers" \
  go build -tags desktop,production -trimpath -ldflags "-s -w" -o "$APP/$MACOS_DIR/$EXECUTABLE" .) ||
  die "go build of the desktop binary failed"
cp "$ROOT/build/darwin/Info.plist" "$APP/Contents/Info.plist"
plutil -replace CFBundleVersion -string "$VERSION" "$APP/Contents/Info.plist"
plutil -replace CFBundleShortVersionString -string "$VERSION" "$APP/Contents/Info.plist"
plutil -lint "$APP/Contents/Info.plist" >/dev/null || die "Info.plist is not valid"
[[ $(plutil -extract CFBundleExecutable raw "$APP/Contents/Info.plist") == "$EXECUTABLE" ]] ||
  die "Info.plist's CFBundleExecutable is not $EXECUTABLE"
for f in "${FRAMEWORKS[@]}"; do cp "$LIB/$f" "$APP/$FRAMEWORKS_DIR/"; done
(cd "$ROOT" && go run ./build/icons -iconset "$work/$ICON_FILE.iconset") || die "icons failed"
iconutil -c icns -o "$APP/$RESOURCES_DIR/$ICON_FILE.icns" "$work/$ICON_FILE.iconset" || die "iconutil failed"

# 4. Signing: the libraries first, then the app (codesign --deep is deprecated
# for signing). Hardened runtime and a timestamp are what notarization needs.
ENTITLEMENTS="${LMX_ENTITLEMENTS:-$ROOT/build/darwin/entitlements.plist}"
if [[ -n ${LMX_SIGN_IDENTITY:-} ]]; then
  echo "bundle: signing with $LMX_SIGN_IDENTITY (hardened runtime)" >&2
  sign=(codesign --force --timestamp --options runtime --sign "$LMX_SIGN_IDENTITY")
  for f in "${FRAMEWORKS[@]}"; do "${sign[@]}" "$APP/$FRAMEWORKS_DIR/$f"; done
  "${sign[@]}" --entitlements "$ENTITLEMENTS" "$APP"
else
  echo "bundle: no LMX_SIGN_IDENTITY: signing ad hoc (this Mac only; no notarization)" >&2
  for f in "${FRAMEWORKS[@]}"; do codesign --force --sign - "$APP/$FRAMEWORKS_DIR/$f"; done
  codesign --force --sign - --entitlements "$ENTITLEMENTS" "$APP"
fi
codesign --verify --strict --verbose=2 "$APP" || die "the signature does not verify"

# 5. Notarization, when credentials are given (needs a Developer ID signature).
notary=()
if [[ -n ${LMX_NOTARY_PROFILE:-} ]]; then
  notary=(--keychain-profile "$LMX_NOTARY_PROFILE")
elif [[ -n ${APPLE_ID:-} || -n ${APPLE_TEAM_ID:-} || -n ${APPLE_APP_PASSWORD:-} ]]; then
  [[ -n ${APPLE_ID:-} && -n ${APPLE_TEAM_ID:-} && -n ${APPLE_APP_PASSWORD:-} ]] ||
    die "notarization needs all of APPLE_ID, APPLE_TEAM_ID and APPLE_APP_PASSWORD (or LMX_NOTARY_PROFILE)"
  notary=(--apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD")
fi
if [[ ${#notary[@]} -gt 0 ]]; then
  [[ -n ${LMX_SIGN_IDENTITY:-} ]] || die "notarization needs a Developer ID signature: set LMX_SIGN_IDENTITY"
  echo "bundle: notarizing (xcrun notarytool submit --wait)" >&2
  ditto -c -k --keepParent "$APP" "$work/LMX.zip"
  xcrun notarytool submit "$work/LMX.zip" "${notary[@]}" --wait || die "notarization failed (xcrun notarytool log ID … shows why)"
  xcrun stapler staple "$APP" || die "stapling the ticket failed"
  spctl --assess --type execute --verbose=2 "$APP" || die "Gatekeeper refuses the notarized app"
fi
echo "bundle: $APP ($VERSION) ready" >&2
