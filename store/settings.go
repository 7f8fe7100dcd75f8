package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// settingsRecordVersion is the envelope version of the Settings document.
const settingsRecordVersion = 1

var keySettings = []byte("settings")

// ErrInvalidSetting is wrapped by every settings validation error.
var ErrInvalidSetting = errors.New("invalid setting")

// SettingError names the invalid field (its JSON path, e.g. "server.port");
// it wraps ErrInvalidSetting, so errors.As finds the field and errors.Is the kind.
type SettingError struct {
	Field string
	Value any
}

// Error renders "server.port = 0: invalid setting".
func (e *SettingError) Error() string {
	return fmt.Sprintf("%s = %v: %v", e.Field, e.Value, ErrInvalidSetting)
}

// Unwrap returns ErrInvalidSetting.
func (e *SettingError) Unwrap() error { return ErrInvalidSetting }

// HashAPIKey is how ServerSettings.APIKeyHash stores a key: the lowercase hex
// SHA-256 of its UTF-8 bytes, so the database never holds the key itself.
// Keys are random tokens, not passwords, so a fast hash is enough. The empty
// key hashes to "": no key is required (an empty --api-key or api_key never
// counts as a key, so it cannot open a listener beyond loopback).
func HashAPIKey(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// KeyMatches reports whether key hashes to hash (HashAPIKey), comparing in
// constant time so the response time does not reveal how much matched.
func KeyMatches(key, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashAPIKey(key)), []byte(hash)) == 1
}

// Settings is everything the user configures. Zero limits mean "MLX's
// default"; DefaultSettings is the one home of the defaults.
type Settings struct {
	Server        ServerSettings  `json:"server"`
	Cache         CacheSettings   `json:"cache"`
	Memory        MemorySettings  `json:"memory"`
	Library       LibrarySettings `json:"library"`
	Requests      RequestSettings `json:"requests"`
	Pool          PoolSettings    `json:"pool"`
	Serving       ServingSettings `json:"serving"`
	UI            UISettings      `json:"ui"`
	IdleUnloadSec int             `json:"idle_unload_sec"` // unload an idle model after this long; 0 never
	LaunchAtLogin bool            `json:"launch_at_login"`
}

// ServerSettings configures the HTTP endpoint.
type ServerSettings struct {
	Host         string   `json:"host"`
	Port         int      `json:"port"`
	APIKeyHash   string   `json:"api_key_hash,omitempty"` // HashAPIKey of the required API key; empty: none required
	CORSOrigins  []string `json:"cors_origins,omitempty"`
	AllowedHosts []string `json:"allowed_hosts,omitempty"` // Host headers accepted besides loopback names
	AutoStart    bool     `json:"auto_start"`
}

// CacheSettings configures the KV and prompt caches.
type CacheSettings struct {
	// PromptCacheBytes bounds each loaded model's in-memory prefix cache; the
	// model pool counts it in every model's memory estimate.
	PromptCacheBytes int64 `json:"prompt_cache_bytes"`
	PersistToDisk    bool  `json:"persist_to_disk"`
	// DiskCacheBytes caps the prefix cache kept on disk (with PersistToDisk).
	DiskCacheBytes int64 `json:"disk_cache_bytes"`
	MaxKVSize      int   `json:"max_kv_size"` // tokens; 0 unbounded
	KVBits         int   `json:"kv_bits"`     // 0 keeps KV in the model's dtype
}

// RequestSettings bound what one API request may ask for.
type RequestSettings struct {
	// LoadOnDemand loads an installed model a request names when it is not
	// loaded yet; off, only models loaded at start or from the UI serve.
	LoadOnDemand bool `json:"load_on_demand"`
	// MaxTokens caps a request's max_tokens; a request without one gets the
	// model's remaining context up to this cap.
	MaxTokens int `json:"max_tokens"`
	// MaxChoices caps n, the completions generated per request.
	MaxChoices int `json:"max_choices"`
}

// MemorySettings configures MLX's memory limits; zero picks the default
// the app documents (app.MemoryBudget and app.applyMemoryLimits).
type MemorySettings struct {
	// LimitBytes is the memory budget: the loaded models' estimates must fit
	// in it, and MLX's memory limit is set to it.
	LimitBytes int64 `json:"limit_bytes"`
	// CacheLimitBytes bounds MLX's cache of freed buffers kept for reuse.
	CacheLimitBytes int64 `json:"cache_limit_bytes"`
	// WiredLimitBytes is how much Metal keeps wired (macOS), capped by the
	// system's iogpu.wired_limit_mb.
	WiredLimitBytes int64 `json:"wired_limit_bytes"`
}

// PoolSettings shape the set of loaded models (besides the memory budget
// and IdleUnloadSec).
type PoolSettings struct {
	// MaxModels bounds how many models are loaded at once; 0 no count limit.
	MaxModels int `json:"max_models"`
	// Pinned are library ids that stay loaded: never unloaded to make room
	// or for being idle (only by hand).
	Pinned []string `json:"pinned,omitempty"`
}

// ServingSettings bound the engine's scheduler, per loaded model.
type ServingSettings struct {
	// MaxSequences is how many requests decode in one batch; more queue.
	MaxSequences int `json:"max_sequences"`
	// MaxBatchTokens bounds the prompt tokens prefilled per scheduler step,
	// so running streams keep flowing while a long prompt is read.
	MaxBatchTokens int `json:"max_batch_tokens"`
	// DraftModels maps a model id to the draft model id that speculates for
	// it (same tokenizer).
	DraftModels map[string]string `json:"draft_models,omitempty"`
}

// LibrarySettings says where models live and how to reach the Hub.
type LibrarySettings struct {
	HubCache     string   `json:"hub_cache,omitempty"` // empty: $HF_HUB_CACHE or its defaults
	ExtraFolders []string `json:"extra_folders,omitempty"`
	HubToken     string   `json:"hub_token,omitempty"` // used when HF_TOKEN is unset
	Endpoint     string   `json:"endpoint,omitempty"`  // empty: $HF_ENDPOINT or huggingface.co
}

// UISettings are presentation preferences of the window.
type UISettings struct {
	Theme     string `json:"theme"` // "system", "light" or "dark"
	ChatModel string `json:"chat_model,omitempty"`
}

// DefaultSettings returns the settings of a fresh install: loopback only,
// so nothing outside this machine reaches the server, on port 1235. LM
// Studio uses 1234, Ollama 11434, mlx_lm.server and llama.cpp 8080, vLLM
// 8000 and Jan 1337; 1235 clashes with none of them and is one digit from
// LM Studio, so clients set up for it are easy to point at LMX.
func DefaultSettings() Settings {
	return Settings{
		Server:        ServerSettings{Host: "127.0.0.1", Port: 1235},
		Cache:         CacheSettings{PromptCacheBytes: 2 << 30, DiskCacheBytes: 10 << 30},
		Requests:      RequestSettings{LoadOnDemand: true, MaxTokens: 32768, MaxChoices: 8},
		Serving:       ServingSettings{MaxSequences: 16, MaxBatchTokens: 512},
		UI:            UISettings{Theme: "system"},
		IdleUnloadSec: 30 * 60,
	}
}

// validKVBits are the widths MLX's quantize accepts for the KV cache.
var validKVBits = []int{0, 2, 3, 4, 5, 6, 8}

// Validate reports the first invalid field, wrapping ErrInvalidSetting.
func (s Settings) Validate() error {
	bad := func(field string, v any) error {
		return &SettingError{Field: field, Value: v}
	}
	switch {
	case s.Server.Host == "":
		return bad("server.host", `""`)
	case s.Server.Port < 1 || s.Server.Port > 65535:
		return bad("server.port", s.Server.Port)
	case s.Library.Endpoint != "" && CheckHubEndpoint(s.Library.Endpoint) != nil:
		return bad("library.endpoint", fmt.Sprintf("%q (%v)", s.Library.Endpoint, CheckHubEndpoint(s.Library.Endpoint)))
	case !slices.Contains(validKVBits, s.Cache.KVBits):
		return bad("cache.kv_bits", s.Cache.KVBits)
	case s.Cache.PromptCacheBytes < 0:
		return bad("cache.prompt_cache_bytes", s.Cache.PromptCacheBytes)
	case s.Cache.DiskCacheBytes < 0:
		return bad("cache.disk_cache_bytes", s.Cache.DiskCacheBytes)
	case s.Cache.MaxKVSize < 0:
		return bad("cache.max_kv_size", s.Cache.MaxKVSize)
	case s.Memory.LimitBytes < 0:
		return bad("memory.limit_bytes", s.Memory.LimitBytes)
	case s.Memory.CacheLimitBytes < 0:
		return bad("memory.cache_limit_bytes", s.Memory.CacheLimitBytes)
	case s.Memory.WiredLimitBytes < 0:
		return bad("memory.wired_limit_bytes", s.Memory.WiredLimitBytes)
	case s.IdleUnloadSec < 0:
		return bad("idle_unload_sec", s.IdleUnloadSec)
	case s.Requests.MaxTokens < 1:
		return bad("requests.max_tokens", s.Requests.MaxTokens)
	case s.Requests.MaxChoices < 1 || s.Requests.MaxChoices > 128:
		return bad("requests.max_choices", s.Requests.MaxChoices)
	case s.Pool.MaxModels < 0:
		return bad("pool.max_models", s.Pool.MaxModels)
	case s.Serving.MaxSequences < 1:
		return bad("serving.max_sequences", s.Serving.MaxSequences)
	case s.Serving.MaxBatchTokens < 1:
		return bad("serving.max_batch_tokens", s.Serving.MaxBatchTokens)
	}
	return s.validateNames()
}

// validateNames checks the settings that name models: no empty id, and no
// model drafting for itself.
func (s Settings) validateNames() error {
	for i, id := range s.Pool.Pinned {
		if id == "" {
			return &SettingError{Field: fmt.Sprintf("pool.pinned[%d]", i), Value: `""`}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.Serving.DraftModels)) {
		if d := s.Serving.DraftModels[id]; id == "" || d == "" || d == id {
			return &SettingError{Field: fmt.Sprintf("serving.draft_models[%q]", id), Value: fmt.Sprintf("%q", d)}
		}
	}
	return nil
}

// Settings returns the stored settings, or the defaults when none are saved.
func (db *DB) Settings() (Settings, error) {
	s := DefaultSettings()
	err := db.get(bucketSettings, string(keySettings), &s)
	if errors.Is(err, ErrNotFound) {
		return DefaultSettings(), nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("load settings: %w", err)
	}
	return s, nil
}

// PutSettings validates and stores s.
func (db *DB) PutSettings(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := db.put(bucketSettings, string(keySettings), settingsRecordVersion, s); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// UpdateSettings applies fn to the stored settings atomically and returns
// the result; nothing is stored when fn or validation fails.
func (db *DB) UpdateSettings(fn func(*Settings) error) (Settings, error) {
	var out Settings
	err := update(db, bucketSettings, string(keySettings), settingsRecordVersion, DefaultSettings(), false, func(s *Settings) error {
		if err := fn(s); err != nil {
			return err
		}
		out = *s
		return s.Validate()
	})
	if err != nil {
		return Settings{}, fmt.Errorf("update settings: %w", err)
	}
	return out, nil
}
