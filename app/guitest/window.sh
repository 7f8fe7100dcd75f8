#!/usr/bin/env bash
# Runs the desktop build of LMX in a fresh Xvfb: waits for its window,
# screenshots it, stops and restarts the server with the window's button
# (keyboard), launches it again (which must hand over to the running one and
# exit), then sends SIGTERM and checks that the app and its menu-bar child
# exit. Invoked by TestWindowUnderXvfb (window_test.go).
# usage: window.sh BINARY PORT ARTIFACT_DIR
# needs: Xvfb, xdotool, imagemagick (import, convert), dbus-daemon
set -euo pipefail
bin=$1 port=$2 out=$3
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
# rendered: the screen shows many colours (text, gradient), not a blank page.
rendered() {
  import -window root "$work/probe.png" 2>/dev/null &&
    (( $(/usr/bin/convert "$work/probe.png" -format %k info:) >= 64 ))
}
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }

Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
pids+=($!)
wait_for 20 "Xvfb" has_display
export DISPLAY=":$(cat "$work/display")"
eval "$(dbus-daemon --session --fork --print-address=1 --print-pid=1 | {
  read -r addr; read -r pid; echo "export DBUS_SESSION_BUS_ADDRESS='$addr'; dbus_pid=$pid"; })"
pids+=("$dbus_pid")
# Xvfb has no GPU for WebKitGTK's DMA-BUF renderer; no accessibility bus.
export WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1

(cd "$work" && exec "$bin" --port "$port" --data-dir "$work/data") >"$out/window-app.log" 2>&1 &
app=$!
pids+=("$app")
wid=$(timeout 60 xdotool search --sync --onlyvisible --name '^LMX$' | head -n1) || fail "no LMX window"
echo "window $wid mapped"
wait_for 30 "the page to render" rendered
sleep 1
import -window root "$out/window.png"
port_open || fail "server not listening on $port"

# Focus the page (click the header), then Tab to the first button (after the
# Dashboard link) and press it: Stop server, then (clicking again, as the
# focused button was replaced) Start server.
# press_server_button CHECK DESCRIPTION: focus the page, Tab to the server
# button and press it, until CHECK holds. A status update can re-render the
# card between the Tab and the Return (the focused button is then gone), so a
# press that did nothing is tried again, a few times.
press_server_button() {
  local check=$1 what=$2
  for ((try = 0; try < 5; try++)); do
    xdotool mousemove --window "$wid" 600 20 click 1
    xdotool key Tab Tab Return
    for ((i = 0; i < 10; i++)); do "$check" && return 0; sleep 0.5; done
  done
  fail "timed out waiting for $what"
}
press_server_button port_closed "the window's Stop server to close port $port"
sleep 1
import -window root "$out/window-stopped.png"
press_server_button port_open "the window's Start server to reopen port $port"
echo "stopped and restarted the server from the window"

# A second launch on the same data dir shows this window and exits.
second=$(cd "$work" && timeout 20 "$bin" --data-dir "$work/data" 2>&1) || fail "second launch failed: $second"
[[ $second == *"LMX is already running (data dir $work/data); using that instance"* ]] ||
  fail "second launch said: $second"
alive "$app" || fail "the first instance died when the second started"
echo "a second launch handed over to the running instance"

tray=$(pgrep -P "$app" -f ' tray$' || true)
[[ -n $tray ]] || fail "no menu-bar child (lmx tray) running"
kill -TERM "$app"
wait_for 15 "the app to exit after SIGTERM" gone "$app"
wait_for 5 "the menu-bar child to exit with the app" gone "$tray"
echo "app and menu-bar child exited"
