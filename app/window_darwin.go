//go:build desktop && darwin

package app

/*
#cgo CFLAGS: -x objective-c
#cgo LDFLAGS: -framework Cocoa
#import <Cocoa/Cocoa.h>

// lmx_menu_bar_only makes LMX an accessory app (no Dock icon, no app menu
// in the menu bar), as Info.plist's LSUIElement asks: Wails v2 sets the
// regular policy while launching, which would undo it.
static void lmx_menu_bar_only(void) {
	dispatch_async(dispatch_get_main_queue(), ^{
		[NSApp setActivationPolicy:NSApplicationActivationPolicyAccessory];
	});
}
*/
import "C"

// webLanguage does nothing on macOS: WebKit reports the user's language as
// a valid BCP 47 tag.
func webLanguage() {}

// menuBarOnly keeps the app out of the Dock once the window has started.
func menuBarOnly() { C.lmx_menu_bar_only() }
