//go:build desktop && linux

package app

/*
#cgo linux pkg-config: gtk+-3.0
#cgo !webkit2_41 pkg-config: webkit2gtk-4.0
#cgo webkit2_41 pkg-config: webkit2gtk-4.1
#include <locale.h>
#include <stdlib.h>
#include <webkit2/webkit2.h>

static void lmx_set_languages(const char *lang) {
	const char *langs[] = {lang, NULL};
	webkit_web_context_set_preferred_languages(webkit_web_context_get_default(), langs);
}
*/
import "C"

import (
	"os"
	"strings"
	"unsafe"
)

// webLanguage gives the window's pages a language JavaScript can use.
// WebKitGTK takes navigator.language from the C library's locale; under the
// C or POSIX locale (containers, minimal systems, the tests' Xvfb) that is
// "C", which is no BCP 47 tag: Intl throws on it (uPlot builds a number
// format from it while loading) and the page stays blank. There the window
// prefers "en-US"; any real locale is left to WebKit. It must run before
// the window is created.
func webLanguage() {
	locale := ""
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if locale = os.Getenv(k); locale != "" {
			break
		}
	}
	base, _, _ := strings.Cut(locale, ".")
	if base != "" && base != "C" && base != "POSIX" {
		return
	}
	lang := C.CString("en-US")
	defer C.free(unsafe.Pointer(lang))
	C.lmx_set_languages(lang)
}

// menuBarOnly does nothing on Linux: a window there has no Dock icon of its
// own to hide.
func menuBarOnly() {}
