package app

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/store"
)

// Overrides are command-line values that apply to this run only and are
// never saved; nil fields keep the stored setting. A settings change that
// edits the same field ends its override, so what the user sets applies.
type Overrides struct {
	Host   *string
	Port   *int    // 0 picks a free port
	APIKey *string // the key itself; the server compares its hash
}

// effective is the server configuration for stored with the overrides
// applied.
func (a *App) effective(stored store.ServerSettings) ServerSettings {
	a.mu.Lock()
	over := a.over
	a.mu.Unlock()
	s := ServerSettings{
		Host: stored.Host, Port: stored.Port, APIKeyHash: stored.APIKeyHash,
		CORSOrigins: stored.CORSOrigins, AllowedHosts: stored.AllowedHosts,
	}
	if over.Host != nil {
		s.Host = *over.Host
	}
	if over.Port != nil {
		s.Port = *over.Port
	}
	if over.APIKey != nil {
		s.APIKeyHash = store.HashAPIKey(*over.APIKey)
	}
	return s
}

// Settings returns the stored settings.
func (a *App) Settings() (store.Settings, error) {
	return a.db.Settings()
}

// UpdateSettings applies edit to the stored settings atomically, validates
// and saves them, and applies them: the handler's security settings at once,
// a new address by restarting the server, new library settings by
// reopening the library, the pool's limits by unloading idle models and
// the memory limits through MLX. When the server cannot start on the new address
// the settings stay saved and the error is returned (and shown in the status).
func (a *App) UpdateSettings(edit func(*store.Settings) error) (store.Settings, error) {
	var before store.Settings
	s, err := a.db.UpdateSettings(func(s *store.Settings) error {
		before = *s
		before.Server.CORSOrigins = slices.Clone(s.Server.CORSOrigins)
		before.Server.AllowedHosts = slices.Clone(s.Server.AllowedHosts)
		before.Library.ExtraFolders = slices.Clone(s.Library.ExtraFolders)
		if err := edit(s); err != nil {
			return err
		}
		if !isLoopback(s.Server.Host) && s.Server.APIKeyHash == "" {
			return &api.ParamError{Param: "server.host", Err: fmt.Errorf("%s: %w", s.Server.Host, ErrKeyRequired)}
		}
		return nil
	})
	if err != nil {
		return store.Settings{}, err
	}
	a.endOverrides(before.Server, s.Server)
	if !sameLibrary(before.Library, s.Library) {
		if err := a.openLibrary(s.Library); err != nil {
			return s, fmt.Errorf("settings saved, but the library did not open: %w", err)
		}
	}
	if before.LaunchAtLogin != s.LaunchAtLogin {
		if err := SetLaunchAtLogin(s.LaunchAtLogin); err != nil {
			return s, fmt.Errorf("settings saved, but launch at login did not change: %w", err)
		}
	}
	a.applyPoolSettings(s)
	if err := a.applyMemoryLimits(s); err != nil {
		return s, fmt.Errorf("settings saved, but the memory limits did not apply: %w", err)
	}
	if err := a.ApplySettings(a.effective(s.Server)); err != nil {
		return s, fmt.Errorf("settings saved, but the server did not restart: %w", err)
	}
	return s, nil
}

// endOverrides drops the overrides of fields that changed from old to new.
func (a *App) endOverrides(old, new store.ServerSettings) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old.Host != new.Host {
		a.over.Host = nil
	}
	if old.Port != new.Port {
		a.over.Port = nil
	}
	if old.APIKeyHash != new.APIKeyHash {
		a.over.APIKey = nil
	}
}

// sameLibrary reports whether two library settings find the same models.
func sameLibrary(a, b store.LibrarySettings) bool {
	return a.HubCache == b.HubCache && a.Endpoint == b.Endpoint && a.HubToken == b.HubToken &&
		slices.Equal(a.ExtraFolders, b.ExtraFolders)
}

// SaveResponse stores a Responses API response (the store bounds how many
// it keeps).
func (a *App) SaveResponse(r store.ResponseRecord) error { return a.db.SaveResponse(r) }

// Response returns a stored Responses API response.
func (a *App) Response(id string) (store.ResponseRecord, error) { return a.db.Response(id) }

// DeleteResponse deletes a stored Responses API response.
func (a *App) DeleteResponse(id string) error { return a.db.DeleteResponse(id) }

// LaunchAgentLabel names LMX's login item: the launchd job on macOS and the
// XDG autostart entry elsewhere.
const LaunchAgentLabel = "app.lmx.LMX"

// LoginItemPath is the file that makes LMX start at login: on macOS a
// launchd agent in ~/Library/LaunchAgents (launchd runs it at every login;
// written without cgo, so no SMAppService), elsewhere an XDG autostart
// entry in $XDG_CONFIG_HOME/autostart (~/.config/autostart).
func LoginItemPath() (string, error) {
	if runtime.GOOS == "darwin" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, "Library", "LaunchAgents", LaunchAgentLabel+".plist"), nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "autostart", "lmx.desktop"), nil
}

// SetLaunchAtLogin writes (on) or removes (off) the login item that starts
// this executable, with no arguments (the menu-bar app), at login.
func SetLaunchAtLogin(on bool) error {
	path, err := LoginItemPath()
	if err != nil {
		return err
	}
	if !on {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	var body string
	if runtime.GOOS == "darwin" {
		body = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>` + LaunchAgentLabel + `</string>
	<key>ProgramArguments</key><array><string>` + xmlEscape(exe) + `</string></array>
	<key>RunAtLoad</key><true/>
	<key>ProcessType</key><string>Interactive</string>
</dict>
</plist>
`
	} else {
		body = "[Desktop Entry]\nType=Application\nName=LMX\nComment=Local language models on an OpenAI-compatible endpoint\n" +
			"Exec=" + desktopQuote(exe) + "\nTerminal=false\nX-GNOME-Autostart-enabled=true\n"
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// xmlEscape escapes s for a plist string.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// desktopQuote quotes a path for a desktop entry's Exec key.
func desktopQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", "$", `\$`).Replace(s) + `"`
}
