package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/group"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub"
	"github.com/lmx-app/lmx/store/library"
)

// Sentinel errors the handlers and middleware map to HTTP statuses in
// writeError; callers wrap them with context (fmt.Errorf("...: %w", ErrX)).
var (
	// ErrHostNotAllowed rejects a request whose Host header is not a loopback
	// name or a configured one (DNS rebinding protection).
	ErrHostNotAllowed = errors.New("host not allowed")
	// ErrOriginNotAllowed rejects a cross-origin request from an origin that
	// is not configured.
	ErrOriginNotAllowed = errors.New("origin not allowed")
	// ErrUnauthorized rejects a /v1 request without the configured API key.
	ErrUnauthorized = errors.New("invalid api key")
	// ErrNotFound is returned for unknown routes.
	ErrNotFound = errors.New("not found")
	// ErrMethodNotAllowed is returned when a route exists but not for the method.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrBodyTooLarge is returned when a request body exceeds the configured limit.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrInvalidRequest is a malformed body or an invalid parameter.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrNotLoopback refuses a loopback-only action requested from another machine.
	ErrNotLoopback = errors.New("only this machine may do this")
	// ErrUnavailable is an action this process cannot carry out (e.g. showing
	// the window of a headless server).
	ErrUnavailable = errors.New("not available")
	// ErrModelNotFound is a request naming a model that is not installed or
	// cannot run.
	ErrModelNotFound = errors.New("model not found")
	// ErrEngineUnavailable is a generation request while the MLX runtime is
	// missing; the message says why.
	ErrEngineUnavailable = errors.New("engine unavailable")
)

// ParamError is an invalid request that names the parameter at fault, which
// the error JSON reports as "param". It matches ErrInvalidRequest and Err.
type ParamError struct {
	Param string
	Err   error
}

// Error returns the cause's message.
func (e *ParamError) Error() string { return e.Err.Error() }

// Unwrap returns ErrInvalidRequest and the cause.
func (e *ParamError) Unwrap() []error { return []error{ErrInvalidRequest, e.Err} }

// ErrorBody is the OpenAI error envelope: {"error":{...}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of an OpenAI error response. Param and Code
// are null when they do not apply, as in OpenAI's responses.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// errorClass says how one sentinel error appears on the wire.
type errorClass struct {
	status int
	typ    string
	code   string
}

// errorClasses maps sentinel errors to status, OpenAI error type and code.
var errorClasses = []struct {
	err   error
	class errorClass
}{
	{ErrHostNotAllowed, errorClass{http.StatusForbidden, "permission_error", "host_not_allowed"}},
	{ErrOriginNotAllowed, errorClass{http.StatusForbidden, "permission_error", "origin_not_allowed"}},
	{ErrUnauthorized, errorClass{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key"}},
	{ErrNotFound, errorClass{http.StatusNotFound, "invalid_request_error", "not_found"}},
	{ErrMethodNotAllowed, errorClass{http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed"}},
	{ErrBodyTooLarge, errorClass{http.StatusRequestEntityTooLarge, "invalid_request_error", "body_too_large"}},
	{ErrNotLoopback, errorClass{http.StatusForbidden, "permission_error", "not_loopback"}},
	{ErrUnavailable, errorClass{http.StatusConflict, "invalid_request_error", "unavailable"}},
	{ErrModelNotFound, errorClass{http.StatusNotFound, "invalid_request_error", "model_not_found"}},
	{ErrEngineUnavailable, errorClass{http.StatusServiceUnavailable, "server_error", "engine_unavailable"}},
	// Errors of the engine on a generation request.
	{engine.ErrPromptTooLong, errorClass{http.StatusBadRequest, "invalid_request_error", "context_length_exceeded"}},
	{engine.ErrInvalidRequest, errorClass{http.StatusBadRequest, "invalid_request_error", "invalid_value"}},
	{engine.ErrNoTokenizer, errorClass{http.StatusBadRequest, "invalid_request_error", "model_not_supported"}},
	{engine.ErrClosed, errorClass{http.StatusServiceUnavailable, "server_error", "model_unloaded"}},
	{group.ErrGroupLost, errorClass{http.StatusServiceUnavailable, "server_error", "model_unavailable"}},
	{group.ErrNotReady, errorClass{http.StatusServiceUnavailable, "server_error", "group_not_ready"}},
	{generate.ErrGroupUnsupported, errorClass{http.StatusBadRequest, "invalid_request_error", "not_supported"}},
	{generate.ErrSchedulerClosed, errorClass{http.StatusServiceUnavailable, "server_error", "model_unloaded"}},
	{chat.ErrNoTemplate, errorClass{http.StatusBadRequest, "invalid_request_error", "model_not_supported"}},
	{chat.ErrTemplate, errorClass{http.StatusBadRequest, "invalid_request_error", "invalid_value"}},
	// Errors of the store, library and Hub the management API passes on.
	{hub.ErrGated, errorClass{http.StatusForbidden, "permission_error", "gated_repo"}},
	{hub.ErrUnauthorized, errorClass{http.StatusForbidden, "permission_error", "hub_token_required"}},
	{hub.ErrUnsafeEndpoint, errorClass{http.StatusBadRequest, "invalid_request_error", "invalid_value"}},
	{store.ErrInvalidSetting, errorClass{http.StatusBadRequest, "invalid_request_error", "invalid_value"}},
	{ErrInvalidRequest, errorClass{http.StatusBadRequest, "invalid_request_error", "invalid_value"}},
	{library.ErrUnsafePath, errorClass{http.StatusBadRequest, "invalid_request_error", "invalid_value"}},
	{store.ErrNotFound, errorClass{http.StatusNotFound, "invalid_request_error", "not_found"}},
	{library.ErrNotInstalled, errorClass{http.StatusNotFound, "invalid_request_error", "model_not_found"}},
	{hub.ErrNotFound, errorClass{http.StatusNotFound, "invalid_request_error", "model_not_found"}},
}

// classify finds the wire class of err; unknown errors are server errors.
func classify(err error) errorClass {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return classify(ErrBodyTooLarge)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The request body did not arrive in time (app's body deadline).
		return errorClass{http.StatusRequestTimeout, "invalid_request_error", "request_timeout"}
	}
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	return errorClass{http.StatusInternalServerError, "server_error", ""}
}

// writeError is the one place that turns an error into an HTTP response with
// the OpenAI error JSON.
func writeError(w http.ResponseWriter, err error) {
	status, body := errorResponse(err)
	writeJSON(w, status, body)
}

// errorResponse is the HTTP status and OpenAI error JSON of err (streams
// send the body as an event once their status is sent).
func errorResponse(err error) (int, ErrorBody) {
	c := classify(err)
	body := ErrorBody{Error: ErrorDetail{Message: err.Error(), Type: c.typ, Param: param(err)}}
	if c.code != "" {
		body.Error.Code = &c.code
	}
	return c.status, body
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status line is sent; an encoding failure can only be a broken
	// connection, which the client already sees.
	_ = json.NewEncoder(w).Encode(v)
}

// param names the request field at fault in err, or nil.
func param(err error) *string {
	var pe *ParamError
	if errors.As(err, &pe) {
		return &pe.Param
	}
	var se *store.SettingError
	if errors.As(err, &se) {
		return &se.Field
	}
	return nil
}
