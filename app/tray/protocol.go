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
	"sync"
)

// Status is what the parent pushes to the menu: one line per change.
type Status struct {
	// Running says whether the HTTP server listens.
	Running bool `json:"running"`
	// URL is the server's base URL (shown and copied from the menu).
	URL string `json:"url"`
	// Model is the loaded model's id, "" when none.
	Model string `json:"model,omitempty"`
	// EngineError is set when the MLX runtime is unavailable.
	EngineError string `json:"engine_error,omitempty"`
}

// Command is a menu action the child asks the parent to carry out.
type Command string

// The commands the menu sends.
const (
	StartServer Command = "start_server"
	StopServer  Command = "stop_server"
	OpenWindow  Command = "open_window"
	OpenChat    Command = "open_chat"
	Quit        Command = "quit"
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
