#!/usr/bin/env bash
# Runs the desktop build of LMX in a fresh Xvfb with a D-Bus session bus and
# the snitest StatusNotifier host: waits for its window, screenshots it,
# stops and restarts the server from the window's keyboard shortcut (Alt+S,
# the server button's accesskey); closes the window (it hides, the app and server
# stay), shows it again from the tray's Open LMX; resizes it, restarts the
# app and checks it reopens at that size; launches it again (which must hand
# over to the running one and exit); then sends SIGTERM and checks that the
# app and its menu-bar child exit. Invoked by TestWindowUnderXvfb
# (window_test.go).
# usage: window.sh BINARY PORT ARTIFACT_DIR SNIHOST WMCLOSE
# needs: Xvfb, xdotool, imagemagick (import, convert), dbus-daemon, curl
set -euo pipefail
bin=$1 port=$2 out=$3 snihost=$4 wmclose=$5
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "window.sh: $*" >&2; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.5 s.
wait_for() {
  local limit=$(( $1 * 2 )) what=$2; shift 2
  for ((i = 0; i < limit; i++)); do "$@" && return 0; sleep 0.5; done
  fail "timed out waiting for $what"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
port_closed() { ! port_open; }
has_display() { [[ -s $work/display ]]; }
# rendered WID: the window shows many colours (text, charts), not a blank page.
rendered() {
  import -window "$1" "$work/probe.png" 2>/dev/null &&
    (( $(/usr/bin/convert "$work/probe.png" -format %k info:) >= 64 ))
}
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }
visible() { [[ -n $(xdotool search --onlyvisible --name '^LMX$' 2>/dev/null) ]]; }
hidden() { ! visible; }
menu_has() { local labels; labels=$("$snihost" labels) && grep -qxF "$1" <<<"$labels"; }
# geometry WID: the window's size as WIDTHxHEIGHT.
geometry() { xdotool getwindowgeometry "$1" | sed -n 's/^ *Geometry: //p'; }
size_is() { [[ $(geometry "$1") == "$2" ]]; }

Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
pids+=($!)
wait_for 20 "Xvfb" has_display
export DISPLAY=":$(cat "$work/display")"
eval "$(dbus-daemon --session --fork --print-address=1 --print-pid=1 | {
  read -r addr; read -r pid; echo "export DBUS_SESSION_BUS_ADDRESS='$addr'; dbus_pid=$pid"; })"
pids+=("$dbus_pid")
"$snihost" watch >"$work/snihost.log" 2>&1 &
pids+=($!)
wait_for 10 "the StatusNotifier host" grep -q ready "$work/snihost.log"
# Xvfb has no GPU for WebKitGTK's DMA-BUF renderer; no accessibility bus.
export WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1

# start_app LOG: runs the app on the work folder's data dir; sets app and wid.
start_app() {
  (cd "$work" && exec "$bin" --port "$port" --data-dir "$work/data") >>"$1" 2>&1 &
  app=$!
  pids+=("$app")
  wid=$(timeout 60 xdotool search --sync --onlyvisible --name '^LMX$' | head -n1) || fail "no LMX window"
  echo "window $wid mapped"
}
: >"$out/window-app.log"
start_app "$out/window-app.log"
wait_for 30 "the page to render" rendered "$wid"
wait_for 10 "the server on port $port" port_open
sleep 2 # a status update or two: live figures
import -window "$wid" "$out/window.png"

# Stop and start the server from the window's keyboard: focus the page (a
# click in its header bar), then Alt+S, the server button's accesskey, which
# needs no Tab count.
xdotool mousemove --window "$wid" 600 20 click 1
xdotool key alt+s
wait_for 10 "Alt+S (the window's Stop server) to close port $port" port_closed
sleep 1
import -window root "$out/window-stopped.png"
xdotool mousemove --window "$wid" 600 20 click 1 key alt+s
wait_for 10 "Alt+S (the window's Start server) to reopen port $port" port_open
echo "stopped and restarted the server from the window's keyboard shortcut"
wait_for 10 "the tray to show the server running" menu_has "LMX running on :$port"

# Closing the window hides it; the app and its server stay; the tray's Open
# LMX shows it again.
"$wmclose" "$wid"
wait_for 10 "the closed window to hide" hidden
alive "$app" || fail "the app exited when its window was closed"
port_open || fail "the server stopped when the window was closed"
"$snihost" click "Open LMX"
wait_for 10 "the tray's Open LMX to show the window" visible
echo "closed the window (hidden, app alive) and reopened it from the tray"

# A second launch on the same data dir shows this window and exits.
second=$(cd "$work" && timeout 20 "$bin" --data-dir "$work/data" 2>&1) || fail "second launch failed: $second"
[[ $second == *"LMX is already running (data dir $work/data); using that instance"* ]] ||
  fail "second launch said: $second"
alive "$app" || fail "the first instance died when the second started"
echo "a second launch handed over to the running instance"

# The window remembers its size: resize, let the app save it (it reads the
# size every second), restart, compare.
xdotool windowsize "$wid" 900 640
wait_for 10 "the window to take 900x640" size_is "$wid" 900x640
sleep 3

tray=$(pgrep -P "$app" -f ' tray$' || true)
[[ -n $tray ]] || fail "no menu-bar child (lmx tray) running"
kill -TERM "$app"
wait_for 15 "the app to exit after SIGTERM" gone "$app"
wait_for 5 "the menu-bar child to exit with the app" gone "$tray"
echo "app and menu-bar child exited"

start_app "$out/window-app.log"
size_is "$wid" 900x640 || fail "the window reopened at $(geometry "$wid"), not the 900x640 it was left at"
echo "the window reopened at the size it was left at (900x640)"
kill -TERM "$app"
wait_for 15 "the restarted app to exit after SIGTERM" gone "$app"
