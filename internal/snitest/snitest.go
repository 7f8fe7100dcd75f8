// Package snitest is a StatusNotifier host for tests: it owns
// org.kde.StatusNotifierWatcher on a D-Bus session bus (as a desktop's panel
// does), records the items that register, and reads and drives their menus
// over com.canonical.dbusmenu, as the panel does when the user opens the
// menu and clicks. With it the real tray process (libayatana-appindicator
// under getlantern/systray) is tested on Debian's dbus-daemon without a
// desktop.
package snitest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

// The StatusNotifier and dbusmenu names.
const (
	WatcherName  = "org.kde.StatusNotifierWatcher"
	WatcherPath  = dbus.ObjectPath("/StatusNotifierWatcher")
	ItemIface    = "org.kde.StatusNotifierItem"
	MenuIface    = "com.canonical.dbusmenu"
	hostName     = "org.kde.StatusNotifierHost-snitest"
	itemFallback = dbus.ObjectPath("/StatusNotifierItem")
)

// Item is a registered StatusNotifierItem: the bus name that owns it and its
// object path.
type Item struct {
	Service string
	Path    dbus.ObjectPath
}

// Watcher is the StatusNotifierWatcher and host. Its methods are safe for
// concurrent use.
type Watcher struct {
	conn  *dbus.Conn
	props *prop.Properties
	mu    sync.Mutex
	items []Item
	done  chan struct{}
}

// watcherIntrospection is what the watcher answers to Introspect; GDBus
// proxies (appindicator's) read it.
const watcherIntrospection = `
<interface name="org.kde.StatusNotifierWatcher">
  <method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
  <method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
  <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
  <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
  <property name="ProtocolVersion" type="i" access="read"/>
  <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
  <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
  <signal name="StatusNotifierHostRegistered"/>
</interface>`

// NewWatcher connects to the bus at address and takes the watcher's name;
// it fails when another watcher has it.
func NewWatcher(address string) (*Watcher, error) {
	conn, err := dbus.Connect(address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", address, err)
	}
	w := &Watcher{conn: conn, done: make(chan struct{})}
	if err := w.export(); err != nil {
		conn.Close()
		return nil, err
	}
	reply, err := conn.RequestName(WatcherName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		conn.Close()
		return nil, fmt.Errorf("own %s: reply %v, %v", WatcherName, reply, err)
	}
	if _, err := conn.RequestName(hostName, dbus.NameFlagDoNotQueue); err != nil {
		conn.Close()
		return nil, fmt.Errorf("own %s: %w", hostName, err)
	}
	if err := w.watchOwners(); err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

func (w *Watcher) export() error {
	if err := w.conn.Export((*watcherMethods)(w), WatcherPath, WatcherName); err != nil {
		return fmt.Errorf("export watcher: %w", err)
	}
	props, err := prop.Export(w.conn, WatcherPath, prop.Map{WatcherName: {
		"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitTrue},
		"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitTrue},
		"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitTrue},
	}})
	if err != nil {
		return fmt.Errorf("export watcher properties: %w", err)
	}
	w.props = props
	node := &introspect.Node{Name: string(WatcherPath), Interfaces: []introspect.Interface{
		introspect.IntrospectData, prop.IntrospectData,
	}}
	data := introspect.NewIntrospectable(node)
	// Splice the watcher's interface into the standard answer.
	xml := strings.Replace(string(data), "</node>", watcherIntrospection+"</node>", 1)
	return w.conn.Export(introspect.Introspectable(xml), WatcherPath, "org.freedesktop.DBus.Introspectable")
}

// watcherMethods are the watcher's D-Bus methods.
type watcherMethods Watcher

// RegisterStatusNotifierItem records the caller's item. service is an object
// path on the caller (appindicator's way) or a bus name (KDE's).
func (m *watcherMethods) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	w := (*Watcher)(m)
	it := Item{Service: string(sender), Path: itemFallback}
	if strings.HasPrefix(service, "/") {
		it.Path = dbus.ObjectPath(service)
	} else if service != "" {
		it.Service = service
	}
	w.mu.Lock()
	if !slices.Contains(w.items, it) {
		w.items = append(w.items, it)
	}
	names := w.namesLocked()
	w.mu.Unlock()
	w.props.SetMust(WatcherName, "RegisteredStatusNotifierItems", names)
	_ = w.conn.Emit(WatcherPath, WatcherName+".StatusNotifierItemRegistered", it.Service+string(it.Path))
	return nil
}

// RegisterStatusNotifierHost accepts another host (there is one already).
func (m *watcherMethods) RegisterStatusNotifierHost(string) *dbus.Error { return nil }

func (w *Watcher) namesLocked() []string {
	names := []string{}
	for _, it := range w.items {
		names = append(names, it.Service+string(it.Path))
	}
	return names
}

// watchOwners drops the items of a bus name that goes away (the tray
// process exited).
func (w *Watcher) watchOwners() error {
	if err := w.conn.AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged")); err != nil {
		return fmt.Errorf("watch bus names: %w", err)
	}
	ch := make(chan *dbus.Signal, 32)
	w.conn.Signal(ch)
	go func() {
		defer close(w.done)
		for sig := range ch {
			if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
				continue
			}
			name, _ := sig.Body[0].(string)
			newOwner, _ := sig.Body[2].(string)
			if newOwner != "" {
				continue
			}
			w.mu.Lock()
			n := len(w.items)
			w.items = slices.DeleteFunc(w.items, func(it Item) bool { return it.Service == name })
			gone, names := n != len(w.items), w.namesLocked()
			w.mu.Unlock()
			if gone {
				w.props.SetMust(WatcherName, "RegisteredStatusNotifierItems", names)
			}
		}
	}()
	return nil
}

// Items returns the registered items.
func (w *Watcher) Items() []Item {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.items)
}

// WaitItem waits up to limit for an item to register and returns the first.
func (w *Watcher) WaitItem(limit time.Duration) (Item, error) {
	deadline := time.Now().Add(limit)
	for {
		if items := w.Items(); len(items) > 0 {
			return items[0], nil
		}
		if time.Now().After(deadline) {
			return Item{}, fmt.Errorf("no StatusNotifierItem registered within %v", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Conn is the watcher's bus connection (for Client).
func (w *Watcher) Conn() *dbus.Conn { return w.conn }

// Close releases the watcher's names and connection.
func (w *Watcher) Close() error { return w.conn.Close() }

// ErrNoItem means the watcher has no item of that name.
var ErrNoItem = errors.New("no such menu item")
