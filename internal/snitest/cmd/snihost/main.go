// Command snihost is the snitest StatusNotifier host for shell scripts
// (app/guitest/window.sh), on the session bus of $DBUS_SESSION_BUS_ADDRESS:
//
//	snihost watch          own org.kde.StatusNotifierWatcher until killed; prints "ready"
//	snihost labels         print the first item's visible menu labels, one a line
//	snihost click LABEL    click the first item's menu entry LABEL
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/lmx-app/lmx/internal/snitest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "snihost:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		return errors.New("DBUS_SESSION_BUS_ADDRESS is not set")
	}
	if len(args) == 0 {
		return errors.New("usage: snihost watch | labels | click LABEL")
	}
	if args[0] == "watch" {
		w, err := snitest.NewWatcher(addr)
		if err != nil {
			return err
		}
		defer w.Close()
		fmt.Println("ready")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		return nil
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	item, err := firstItem(conn)
	if err != nil {
		return err
	}
	c := snitest.NewClient(conn, item)
	switch {
	case args[0] == "labels" && len(args) == 1:
		layout, err := c.Layout()
		if err != nil {
			return err
		}
		for _, l := range layout.Labels() {
			fmt.Println(l)
		}
		return nil
	case args[0] == "click" && len(args) == 2:
		return c.Click(args[1])
	}
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

// firstItem reads the watcher's first registered item, waiting up to 30 s
// for one.
func firstItem(conn *dbus.Conn) (snitest.Item, error) {
	watcher := conn.Object(snitest.WatcherName, snitest.WatcherPath)
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := watcher.GetProperty(snitest.WatcherName + ".RegisteredStatusNotifierItems")
		if err == nil {
			if names, ok := v.Value().([]string); ok && len(names) > 0 {
				service, path, found := strings.Cut(names[0], "/")
				if !found {
					return snitest.Item{}, fmt.Errorf("item %q has no object path", names[0])
				}
				return snitest.Item{Service: service, Path: dbus.ObjectPath("/" + path)}, nil
			}
		}
		if time.Now().After(deadline) {
			return snitest.Item{}, fmt.Errorf("no item registered with the watcher (%v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
