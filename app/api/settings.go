package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/lmx-app/lmx/store"
)

// SettingsBody is the body of GET and PUT /api/settings: the stored
// settings, with the API key write-only (the store keeps only its hash).
// A PUT changes the fields it names; absent fields keep their value.
type SettingsBody struct {
	*store.Settings
	// APIKey, on PUT, sets the key required on /v1 ("" removes it).
	APIKey *string `json:"api_key,omitempty"`
	// APIKeySet, on GET, says whether a key is required.
	APIKeySet bool `json:"api_key_set"`
	// HubTokenSet, on GET, says whether a Hugging Face token is stored; like
	// the key, the token is write-only (library.hub_token on PUT).
	HubTokenSet bool `json:"hub_token_set"`
}

// handleGetSettings serves GET /api/settings.
func (h *Handler) handleGetSettings(w http.ResponseWriter, _ *http.Request) {
	s, err := h.backend.Settings()
	if err != nil {
		writeError(w, err)
		return
	}
	writeSettings(w, s)
}

// handlePutSettings serves PUT /api/settings: it merges the body into the
// stored settings, validates, saves and applies them (a new address
// restarts the server), and answers with the result. Once an API key is
// required, changing settings needs it too, from this machine as well
// (security.go already requires it from others): otherwise any local
// program could remove the key that guards /v1. The app's own window
// (in-process requests) needs no key.
func (h *Handler) handlePutSettings(w http.ResponseWriter, r *http.Request) {
	if h.keyHash != "" && !isInProcess(r) && !store.KeyMatches(requestKey(r), h.keyHash) {
		writeErrorFor(w, r, fmt.Errorf("%w: changing settings needs the API key once one is set; send it as \"Authorization: Bearer <key>\" or \"x-api-key\"", ErrUnauthorized))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, fmt.Errorf("read body: %w", err))
		return
	}
	s, err := h.backend.UpdateSettings(func(s *store.Settings) error { return mergeSettings(s, body) })
	if err != nil {
		writeError(w, err)
		return
	}
	writeSettings(w, s)
}

// mergeSettings decodes a PUT body over s. The key hash cannot be written
// directly: only api_key changes it.
func mergeSettings(s *store.Settings, body []byte) error {
	hash := s.Server.APIKeyHash
	req := SettingsBody{Settings: s}
	if err := decodeJSON(body, &req); err != nil {
		var pe *ParamError
		if errors.As(err, &pe) {
			// Name the field as the client wrote it, not through the embedding.
			pe.Param = strings.TrimPrefix(pe.Param, "Settings.")
			pe.Err = errors.New(strings.TrimPrefix(pe.Err.Error(), "Settings."))
		}
		return err
	}
	s.Server.APIKeyHash = hash
	if req.APIKey != nil {
		s.Server.APIKeyHash = store.HashAPIKey(*req.APIKey) // "" removes the key
	}
	return nil
}

// writeSettings answers with s, its secrets (key hash, Hub token) left out.
func writeSettings(w http.ResponseWriter, s store.Settings) {
	body := SettingsBody{Settings: &s, APIKeySet: s.Server.APIKeyHash != "", HubTokenSet: s.Library.HubToken != ""}
	s.Server.APIKeyHash, s.Library.HubToken = "", ""
	writeJSON(w, http.StatusOK, body)
}

// decodeBody decodes a request's JSON body into v (see decodeJSON).
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	return decodeJSON(body, v)
}

// decodeJSON decodes one JSON value into v, refusing unknown fields and
// trailing data; a field of the wrong type is reported as the param.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return &ParamError{Param: typeErr.Field, Err: fmt.Errorf("%s must be a JSON %s", typeErr.Field, typeErr.Type)}
	case err != nil:
		return fmt.Errorf("%w: body: %w", ErrInvalidRequest, err)
	case dec.More():
		return fmt.Errorf("%w: body: more than one JSON value", ErrInvalidRequest)
	}
	return nil
}
