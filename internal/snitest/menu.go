package snitest

import (
	"fmt"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// MenuItem is one dbusmenu item with the properties a panel draws.
type MenuItem struct {
	ID       int32
	Label    string
	Type     string // "separator" or "" (standard)
	Visible  bool
	Enabled  bool
	Children []MenuItem
}

// Client reads an item's properties and menu over conn.
type Client struct {
	conn *dbus.Conn
	item Item
}

// NewClient returns a client of item on conn.
func NewClient(conn *dbus.Conn, item Item) *Client { return &Client{conn: conn, item: item} }

// Properties returns the item's org.kde.StatusNotifierItem properties (Id,
// Title, Status, IconName, Menu, …).
func (c *Client) Properties() (map[string]dbus.Variant, error) {
	var props map[string]dbus.Variant
	err := c.conn.Object(c.item.Service, c.item.Path).
		Call("org.freedesktop.DBus.Properties.GetAll", 0, ItemIface).Store(&props)
	if err != nil {
		return nil, fmt.Errorf("%s properties: %w", ItemIface, err)
	}
	return props, nil
}

// menuObject is the item's dbusmenu object, from its Menu property.
func (c *Client) menuObject() (dbus.BusObject, error) {
	props, err := c.Properties()
	if err != nil {
		return nil, err
	}
	path, ok := props["Menu"].Value().(dbus.ObjectPath)
	if !ok || !path.IsValid() {
		return nil, fmt.Errorf("the item has no Menu object path (Menu = %v)", props["Menu"])
	}
	return c.conn.Object(c.item.Service, path), nil
}

// Layout reads the whole menu with com.canonical.dbusmenu.GetLayout, after
// AboutToShow (which a panel calls before opening the menu).
func (c *Client) Layout() (MenuItem, error) {
	obj, err := c.menuObject()
	if err != nil {
		return MenuItem{}, err
	}
	var update bool
	_ = obj.Call(MenuIface+".AboutToShow", 0, int32(0)).Store(&update)
	var revision uint32
	var root []any
	call := obj.Call(MenuIface+".GetLayout", 0, int32(0), int32(-1), []string{})
	if call.Err != nil {
		return MenuItem{}, fmt.Errorf("GetLayout: %w", call.Err)
	}
	if len(call.Body) != 2 {
		return MenuItem{}, fmt.Errorf("GetLayout answered %d values, want 2", len(call.Body))
	}
	revision, _ = call.Body[0].(uint32)
	_ = revision
	root, ok := call.Body[1].([]any)
	if !ok {
		return MenuItem{}, fmt.Errorf("GetLayout's layout is %T, want a struct", call.Body[1])
	}
	return parseItem(root)
}

// parseItem decodes a dbusmenu layout node (ia{sv}av).
func parseItem(node []any) (MenuItem, error) {
	if len(node) != 3 {
		return MenuItem{}, fmt.Errorf("layout node has %d fields, want 3", len(node))
	}
	id, ok1 := node[0].(int32)
	props, ok2 := node[1].(map[string]dbus.Variant)
	children, ok3 := node[2].([]dbus.Variant)
	if !ok1 || !ok2 || !ok3 {
		return MenuItem{}, fmt.Errorf("layout node types %T %T %T", node[0], node[1], node[2])
	}
	it := MenuItem{ID: id, Visible: true, Enabled: true}
	if v, ok := props["label"].Value().(string); ok {
		it.Label = v
	}
	if v, ok := props["type"].Value().(string); ok {
		it.Type = v
	}
	if v, ok := props["visible"].Value().(bool); ok {
		it.Visible = v
	}
	if v, ok := props["enabled"].Value().(bool); ok {
		it.Enabled = v
	}
	for _, ch := range children {
		sub, ok := ch.Value().([]any)
		if !ok {
			return MenuItem{}, fmt.Errorf("layout child is %T", ch.Value())
		}
		child, err := parseItem(sub)
		if err != nil {
			return MenuItem{}, err
		}
		it.Children = append(it.Children, child)
	}
	return it, nil
}

// Entries are the visible, non-separator items of the menu's top level, in
// order, as a user sees them.
func (m MenuItem) Entries() []MenuItem {
	var out []MenuItem
	for _, ch := range m.Children {
		if ch.Visible && ch.Type != "separator" {
			out = append(out, ch)
		}
	}
	return out
}

// Labels are the visible entries' labels.
func (m MenuItem) Labels() []string {
	var out []string
	for _, e := range m.Entries() {
		out = append(out, e.Label)
	}
	return out
}

// Find returns the visible entry labelled label.
func (m MenuItem) Find(label string) (MenuItem, bool) {
	for _, e := range m.Entries() {
		if e.Label == label {
			return e, true
		}
	}
	return MenuItem{}, false
}

// Click sends dbusmenu's "clicked" event to the visible, enabled entry
// labelled label, as a panel does when the user picks it.
func (c *Client) Click(label string) error {
	layout, err := c.Layout()
	if err != nil {
		return err
	}
	e, ok := layout.Find(label)
	if !ok {
		return fmt.Errorf("%w %q in %q", ErrNoItem, label, layout.Labels())
	}
	if !e.Enabled {
		return fmt.Errorf("menu item %q is disabled", label)
	}
	obj, err := c.menuObject()
	if err != nil {
		return err
	}
	call := obj.Call(MenuIface+".Event", 0, e.ID, "clicked", dbus.MakeVariant(int32(0)), uint32(time.Now().Unix()))
	if call.Err != nil {
		return fmt.Errorf("click %q: %w", label, call.Err)
	}
	return nil
}

// WaitLabels polls the menu until ok holds for its visible labels, up to
// limit; it returns the last labels read.
func (c *Client) WaitLabels(limit time.Duration, ok func(labels []string) bool) ([]string, error) {
	deadline := time.Now().Add(limit)
	var labels []string
	for {
		layout, err := c.Layout()
		if err == nil {
			labels = layout.Labels()
			if ok(labels) {
				return labels, nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return labels, err
			}
			return labels, fmt.Errorf("menu still shows %q after %v", strings.Join(labels, " | "), limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
