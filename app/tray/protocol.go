// Package tray is LMX's menu-bar icon. It runs in a child process ("lmx tray")
// because getlantern/systray and Wails each want the main run loop (and on
// macOS each define an AppDelegate). Parent and child talk JSON lines over
// the child's stdin (Status, parent to child) and stdout (Request, child to
// parent); the child exits when its stdin closes, so it dies with the parent.
package tray

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Status is what the parent pushes to the menu: one line per change.
type Status struct {
	// Running says whether the HTTP server listens.
	Running bool `json:"running"`
	// URL is the server's base URL (shown and copied from the menu).
	URL string `json:"url"`
	// Port is the port the server listens on (0 while stopped).
	Port int `json:"port,omitempty"`
	// Models are the loaded models with the memory each holds, in the
	// pool's order.
	Models []Model `json:"models,omitempty"`
	// MLXActiveBytes is MLX's active memory (0 without the runtime).
	MLXActiveBytes int64 `json:"mlx_active_bytes,omitempty"`
	// EngineError is set when the MLX runtime is unavailable.
	EngineError string `json:"engine_error,omitempty"`
	// ServerError is why the server last failed to start ("" if it did not).
	ServerError string `json:"server_error,omitempty"`
}

// Model is one loaded model as the menu shows it.
type Model struct {
	ID string `json:"id"`
	// Bytes is the memory the model's weights hold.
	Bytes int64 `json:"bytes"`
	// State is "loaded" or "loading" (and "unloading" while it goes).
	State string `json:"state,omitempty"`
}

// Equal reports whether s and o show the same menu.
func (s Status) Equal(o Status) bool {
	return s.Running == o.Running && s.URL == o.URL && s.Port == o.Port &&
		s.MLXActiveBytes == o.MLXActiveBytes && s.EngineError == o.EngineError &&
		s.ServerError == o.ServerError && slices.Equal(s.Models, o.Models)
}

// Command is a menu action the child asks the parent to carry out.
type Command string

// The commands the menu sends.
const (
	StartServer Command = "start_server"
	StopServer  Command = "stop_server"
	OpenWindow  Command = "open_window"
	OpenChat    Command = "open_chat" // the window's Chat page, a new conversation
	// CopyURL asks the parent to copy the endpoint URL: the child sends it
	// only when it has no clipboard tool of its own (pbcopy, wl-copy, xclip,
	// xsel).
	CopyURL Command = "copy_url"
	Quit    Command = "quit"
)

// Request is one line from the child to the parent.
type Request struct {
	Command Command `json:"command"`
}

// ErrMalformed is returned by Decoder.Decode for a line that is not valid
// JSON of the expected type; the next Decode reads the following line.
var ErrMalformed = errors.New("malformed tray message")

// maxLine bounds one protocol line; statuses are a few hundred bytes.
const maxLine = 1 << 20

// Encoder writes values of type T as JSON lines. Safe for concurrent use.
type Encoder[T any] struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder[T any](w io.Writer) *Encoder[T] {
	return &Encoder[T]{enc: json.NewEncoder(w)}
}

// Encode writes v and a newline.
func (e *Encoder[T]) Encode(v T) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enc.Encode(v); err != nil {
		return fmt.Errorf("write tray message: %w", err)
	}
	return nil
}

// Decoder reads JSON lines into values of type T. Not safe for concurrent use.
type Decoder[T any] struct {
	sc *bufio.Scanner
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder[T any](r io.Reader) *Decoder[T] {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	return &Decoder[T]{sc: sc}
}

// Decode reads the next line. It returns io.EOF when the stream ends, and
// skips blank lines.
func (d *Decoder[T]) Decode() (T, error) {
	var v T
	for d.sc.Scan() {
		line := d.sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if err := json.Unmarshal(line, &v); err != nil {
			return v, fmt.Errorf("%w %q: %w", ErrMalformed, line, err)
		}
		return v, nil
	}
	if err := d.sc.Err(); err != nil {
		return v, fmt.Errorf("read tray message: %w", err)
	}
	return v, io.EOF
}
