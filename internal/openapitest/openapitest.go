// Package openapitest validates JSON bodies against the schemas of the
// official OpenAI OpenAPI document (../shared/specs/openai-openapi.yaml), or
// of any OpenAPI 3.1 document (Parse: LMX's own management API), with a JSON
// Schema 2020-12 validator, so tests check the wire format against the
// document rather than against hand-written expectations.
package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/lmx-app/lmx/internal/testutil"
)

// docURL is the URL the document is registered under; "$ref":
// "#/components/schemas/X" resolves against it.
const docURL = "file:///openai-openapi.json"

// StreamedCompletion is the schema name of a /v1/completions stream chunk.
// The document describes streamed and whole completions with one schema,
// CreateCompletionResponse, whose finish_reason is never null; OpenAI's API
// sends null in every chunk but a choice's last, as its SDKs expect. This
// schema is CreateCompletionResponse with exactly that one change.
const StreamedCompletion = "x-lmx-CreateCompletionStreamChunk"

// Spec is a loaded document (OpenAI's, or one given to Parse), compiled on
// demand. Safe for concurrent use.
type Spec struct {
	url      string         // what "#/..." references resolve against
	doc      map[string]any // the document, for looking up operations
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by JSON pointer
}

var (
	loadOnce sync.Once
	loaded   *Spec
	loadErr  error
)

// Path is the OpenAPI document beside the fixtures (shared/specs).
func Path(t testing.TB) string {
	t.Helper()
	return filepath.Join(filepath.Dir(testutil.Fixtures(t)), "specs", "openai-openapi.yaml")
}

// Load reads and prepares the document once per test binary.
func Load(t testing.TB) *Spec {
	t.Helper()
	path := Path(t)
	loadOnce.Do(func() { loaded, loadErr = load(path) })
	if loadErr != nil {
		t.Fatalf("openapitest: %v", loadErr)
	}
	return loaded
}

// Validate fails t unless body is JSON valid against the document's schema
// components/schemas/<schema> (or StreamedCompletion).
func Validate(t testing.TB, schema string, body []byte) {
	t.Helper()
	if err := Load(t).Check(schema, body); err != nil {
		t.Errorf("%v\nbody: %s", err, truncate(body))
	}
}

// Check returns why body is not valid against schema, or nil.
func (s *Spec) Check(schema string, body []byte) error {
	sch, err := s.schema(schema)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("not a valid %s: %w", schema, err)
	}
	return nil
}

// schema compiles components/schemas/<name> once.
func (s *Spec) schema(name string) (*jsonschema.Schema, error) {
	return s.schemaAt("/components/schemas/" + name)
}

// schemaAt compiles the schema at JSON pointer ptr of the document once.
func (s *Spec) schemaAt(ptr string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(s.url + "#" + ptr)
	if err != nil {
		return nil, fmt.Errorf("compile schema %s: %w", ptr, err)
	}
	s.schemas[ptr] = sch
	return sch, nil
}

// load parses the YAML document, turns OpenAPI 3.0's "nullable" (which the
// document still uses beside 3.1's type lists) into JSON Schema, adds the
// StreamedCompletion schema and registers the whole document.
func load(path string) (*Spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read OpenAPI document: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	doc = rewriteNullable(doc).(map[string]any)
	rewriteRecursive(doc)
	if err := addStreamedCompletion(doc); err != nil {
		return nil, err
	}
	// Through JSON, so numbers and maps have the types the validator expects.
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode %s as JSON: %w", path, err)
	}
	return compile(docURL, js, jsonschema.NewCompiler())
}

// compile registers the JSON document js under url with compiler c.
func compile(url string, js []byte, c *jsonschema.Compiler) (*Spec, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("OpenAPI document is not JSON: %w", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("OpenAPI document is not a JSON object")
	}
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(url, v); err != nil {
		return nil, fmt.Errorf("add OpenAPI document: %w", err)
	}
	return &Spec{url: url, doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}}, nil
}

// rewriteNullable replaces every schema's "nullable: true" with what it
// means in OpenAPI 3.0: null is allowed too ("null" added to type and enum,
// or, for a schema without a type such as a bare $ref, anyOf it and null).
func rewriteNullable(v any) any {
	switch x := v.(type) {
	case []any:
		for i := range x {
			x[i] = rewriteNullable(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = rewriteNullable(x[k])
		}
		if x["nullable"] != true {
			return x
		}
		delete(x, "nullable")
		return allowNull(x)
	}
	return v
}

// allowNull lets schema s accept null as well.
func allowNull(s map[string]any) map[string]any {
	switch t := s["type"].(type) {
	case string:
		s["type"] = []any{t, "null"}
	case []any:
		s["type"] = append(t, "null")
	default:
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	}
	if enum, ok := s["enum"].([]any); ok {
		s["enum"] = append(enum, nil)
	}
	return s
}

// rewriteRecursive replaces draft 2019-09's $recursiveAnchor / $recursiveRef
// "#" (CompoundFilter uses them), which a 2020-12 compiler rejects, by a
// plain $ref to the schema itself: the same meaning where nothing extends it.
func rewriteRecursive(doc map[string]any) {
	schemas, _ := dig(doc, "components", "schemas").(map[string]any)
	for name, s := range schemas {
		m, ok := s.(map[string]any)
		if !ok || m["$recursiveAnchor"] != true {
			continue
		}
		delete(m, "$recursiveAnchor")
		replaceRecursiveRef(m, "#/components/schemas/"+name)
	}
}

// replaceRecursiveRef turns every {"$recursiveRef": "#"} under v into a
// $ref to self.
func replaceRecursiveRef(v any, self string) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			replaceRecursiveRef(e, self)
		}
	case map[string]any:
		if x["$recursiveRef"] == "#" {
			delete(x, "$recursiveRef")
			x["$ref"] = self
		}
		for _, e := range x {
			replaceRecursiveRef(e, self)
		}
	}
}

// addStreamedCompletion adds StreamedCompletion: a deep copy of
// CreateCompletionResponse whose choices' finish_reason may be null.
func addStreamedCompletion(doc map[string]any) error {
	schemas, _ := dig(doc, "components", "schemas").(map[string]any)
	base, ok := schemas["CreateCompletionResponse"]
	if !ok {
		return fmt.Errorf("the document has no CreateCompletionResponse")
	}
	js, _ := json.Marshal(base)
	var cp map[string]any
	if err := json.Unmarshal(js, &cp); err != nil {
		return err
	}
	fr, ok := dig(cp, "properties", "choices", "items", "properties", "finish_reason").(map[string]any)
	if !ok {
		return fmt.Errorf("CreateCompletionResponse has no choices[].finish_reason")
	}
	allowNull(fr)
	schemas[StreamedCompletion] = cp
	return nil
}

// dig follows keys through nested maps; nil when one is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// truncate shortens a body for an error message.
func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
