package hub

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub/hubtest"
	"github.com/lmx-app/lmx/store/library"
)

// TestHelperProcess is the child of the crash tests: it runs LMX work until
// the parent SIGKILLs it. It is not a test on its own.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("LMX_CRASH_HELPER")
	if mode == "" {
		t.Skip("child process of the crash tests; runs only when they start it")
	}
	db, err := store.Open(os.Getenv("LMX_DATA"))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	switch mode {
	case "download":
		db.UpdateSettings(func(s *store.Settings) error { s.Server.Port = 4321; return nil })
		fmt.Println("ready")
		mgr := NewManager(NewClient(os.Getenv("LMX_HUB"), ""), library.Cache{Dir: os.Getenv("LMX_CACHE")}, db, Options{})
		_, err = mgr.Pull(context.Background(), "mlx-community/llama-tiny", "main")
	case "writes":
		err = writeForever(db)
	}
	fmt.Println("finished before being killed:", err)
	os.Exit(3)
}

// writeForever updates settings, a chat and the registry in a loop,
// printing "ok N" after each acknowledged round.
func writeForever(db *store.DB) error {
	chat, err := db.CreateChat("crash", "m")
	if err != nil {
		return err
	}
	for i := 1; ; i++ {
		if _, err := db.UpdateSettings(func(s *store.Settings) error { s.Server.Port = 10000 + i; return nil }); err != nil {
			return err
		}
		if _, err := db.AppendMessages(chat.ID, store.ChatMessage{Role: "user", Content: strconv.Itoa(i)}); err != nil {
			return err
		}
		if err := db.RegisterModel(store.Model{ID: fmt.Sprintf("m/%d", i%20), Params: int64(i)}); err != nil {
			return err
		}
		fmt.Printf("ok %d\n", i)
	}
}

// startChild runs TestHelperProcess in mode and returns it with a reader
// of its stdout.
func startChild(t *testing.T, mode string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(append(os.Environ(), "LMX_CRASH_HELPER="+mode), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// kill SIGKILLs the child and reaps it.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

func TestKilledMidDownloadResumesAfterRestart(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/llama-tiny", fixtureDir(t, "llama"))
	e.hub.SetFault(repo, "model.safetensors", hubtest.Fault{BytesPerSec: 200_000})
	data, cache := t.TempDir(), library.Cache{Dir: t.TempDir()}
	cmd, out := startChild(t, "download", "LMX_DATA="+data, "LMX_CACHE="+cache.Dir, "LMX_HUB="+e.hub.URL)
	if !out.Scan() || out.Text() != "ready" {
		t.Fatalf("child: %q", out.Text())
	}
	partial := cache.IncompletePath(repo.ID, hubtest.SHA256(repo.Files["model.safetensors"]))
	waitFor(t, func() bool { return fileSize(partial) >= 100_000 })
	kill(t, cmd)
	e.hub.SetFault(repo, "model.safetensors", hubtest.Fault{})

	db, err := store.Open(data)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer db.Close()
	if s, err := db.Settings(); err != nil || s.Server.Port != 4321 {
		t.Errorf("settings after crash: port %d, %v", s.Server.Port, err)
	}
	mgr := NewManager(NewClient(e.hub.URL, ""), cache, db, Options{Backoff: 10 * time.Millisecond})
	defer mgr.Close()
	ids, err := mgr.ResumePending()
	if err != nil || len(ids) != 1 {
		t.Fatalf("resume pending: %v %v", ids, err)
	}
	if err := mgr.Wait(context.Background(), ids[0]); err != nil {
		t.Fatalf("resumed download: %v", err)
	}
	e.cache = cache
	assertSnapshotMatches(t, e, repo)
	assertResumed(t, e)
}

func TestKilledMidWritesKeepsStoreConsistent(t *testing.T) {
	data := t.TempDir()
	cmd, out := startChild(t, "writes", "LMX_DATA="+data)
	acked := 0
	for acked < 100 && out.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(out.Text(), "ok "))
		if err != nil {
			t.Fatalf("child: %q", out.Text())
		}
		acked = n
	}
	kill(t, cmd)
	db, err := store.Open(data)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer db.Close()
	s, err := db.Settings()
	if err != nil || s.Validate() != nil || s.Server.Port < 10000+acked {
		t.Errorf("settings after crash: port %d (acknowledged %d), %v", s.Server.Port, 10000+acked, err)
	}
	chats, err := db.Chats()
	if err != nil || len(chats) != 1 || chats[0].Messages < acked {
		t.Fatalf("chats after crash: %+v %v (acknowledged %d messages)", chats, err, acked)
	}
	chat, _ := db.Chat(chats[0].ID)
	for i, m := range chat.Messages {
		if m.Content != strconv.Itoa(i+1) {
			t.Fatalf("message %d is %q", i, m.Content)
		}
	}
	if _, err := db.UpdateSettings(func(s *store.Settings) error { s.Server.Port = 8080; return nil }); err != nil {
		t.Errorf("write after crash: %v", err)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}
