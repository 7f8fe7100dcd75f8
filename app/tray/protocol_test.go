package tray

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCodecRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   Status
	}{
		{"running", Status{Running: true, URL: "http://127.0.0.1:1235", Port: 1235, MLXActiveBytes: 1 << 30,
			Models: []Model{{ID: "mlx-community/Qwen3-0.6B-4bit", Bytes: 400 << 20, State: "loaded"}, {ID: "b", State: "loading"}}}},
		{"stopped without engine", Status{EngineError: "libmlx not found\nsearched: /a, /b"}},
		{"zero", Status{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := NewEncoder[Status](&buf).Encode(c.in); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(buf.String(), "\n"); n != 1 {
				t.Fatalf("encoded %q has %d newlines, want exactly one (JSON lines)", buf.String(), n)
			}
			got, err := NewDecoder[Status](&buf).Decode()
			if err != nil || !got.Equal(c.in) {
				t.Fatalf("decoded %+v, %v; want %+v", got, err, c.in)
			}
		})
	}
}

func TestDecoderStream(t *testing.T) {
	in := "{\"command\":\"open_window\"}\n\n{not json}\n{\"command\":\"quit\"}\n"
	dec := NewDecoder[Request](strings.NewReader(in))
	want := []struct {
		cmd Command
		err error
	}{{OpenWindow, nil}, {"", ErrMalformed}, {Quit, nil}, {"", io.EOF}}
	for i, w := range want {
		got, err := dec.Decode()
		if !errors.Is(err, w.err) || (w.err == nil && got.Command != w.cmd) {
			t.Errorf("line %d: got %+v, %v; want %q, %v", i, got, err, w.cmd, w.err)
		}
	}
}

func TestCommandWireNames(t *testing.T) {
	// The parent and child may come from different builds during an upgrade,
	// so the wire names are fixed.
	for cmd, wire := range map[Command]string{
		StartServer: "start_server", StopServer: "stop_server",
		OpenWindow: "open_window", OpenChat: "open_chat", CopyURL: "copy_url", Quit: "quit",
	} {
		var buf bytes.Buffer
		_ = NewEncoder[Request](&buf).Encode(Request{Command: cmd})
		if got := strings.TrimSpace(buf.String()); got != `{"command":"`+wire+`"}` {
			t.Errorf("%s encodes as %s", cmd, got)
		}
	}
}
