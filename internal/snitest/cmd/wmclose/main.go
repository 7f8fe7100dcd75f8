// Command wmclose asks an X11 window to close, as a window manager's close
// button does: it sends the WM_DELETE_WINDOW client message (ICCCM), which
// GTK turns into the window's delete-event. xdotool (Debian 12's) can only
// destroy or kill a window, which is not what a user's close does.
//
//	wmclose WINDOW_ID      (decimal, as xdotool prints it; DISPLAY from the environment)
package main

/*
#cgo pkg-config: x11
#include <stdlib.h>
#include <X11/Xlib.h>

static int send_delete(unsigned long win) {
	Display *d = XOpenDisplay(NULL);
	if (d == NULL) return 1;
	XEvent ev = {0};
	ev.xclient.type = ClientMessage;
	ev.xclient.window = (Window)win;
	ev.xclient.message_type = XInternAtom(d, "WM_PROTOCOLS", False);
	ev.xclient.format = 32;
	ev.xclient.data.l[0] = XInternAtom(d, "WM_DELETE_WINDOW", False);
	ev.xclient.data.l[1] = CurrentTime;
	Status ok = XSendEvent(d, (Window)win, False, NoEventMask, &ev);
	XSync(d, False);
	XCloseDisplay(d);
	return ok ? 0 : 2;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wmclose WINDOW_ID")
		os.Exit(2)
	}
	id, err := strconv.ParseUint(os.Args[1], 0, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmclose:", err)
		os.Exit(2)
	}
	switch C.send_delete(C.ulong(id)) {
	case 0:
	case 1:
		fmt.Fprintln(os.Stderr, "wmclose: cannot open the display", os.Getenv("DISPLAY"))
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "wmclose: XSendEvent failed")
		os.Exit(1)
	}
}
