package api

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/openapitest"
)

// openAPISpec parses the served document for validation.
func openAPISpec(t *testing.T) *openapitest.Spec {
	t.Helper()
	js, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := openapitest.Parse("file:///lmx-openapi.json", js)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// openAPIDoc decodes the served document for walking it.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	js, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// apiRoutes is the /api rows of the route table.
func apiRoutes(h *Handler) []endpoint {
	var rows []endpoint
	for _, e := range h.endpoints() {
		if strings.HasPrefix(e.path, "/api/") {
			rows = append(rows, e)
		}
	}
	return rows
}

// wildcard matches a path pattern's {name} or {name...}.
var wildcard = regexp.MustCompile(`\{(\w+)(\.\.\.)?\}`)

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	spec := openAPISpec(t)
	if err := spec.CompileAll(); err != nil {
		t.Fatalf("the document's schemas do not compile: %v", err)
	}
	h := New(Config{}, &fakeBackend{}, NewHub())
	var registered []openapitest.Operation
	for _, e := range apiRoutes(h) {
		registered = append(registered, openapitest.Operation{Method: e.method, Path: wildcard.ReplaceAllString(e.path, "{$1}")})
	}
	documented := spec.Operations()
	for _, op := range registered {
		if !slices.Contains(documented, op) {
			t.Errorf("route %s %s is not in openapi.yaml", op.Method, op.Path)
		}
	}
	for _, op := range documented {
		if !slices.Contains(registered, op) {
			t.Errorf("openapi.yaml documents %s %s, which is not a route", op.Method, op.Path)
		}
	}
}

// TestRoutesServeTheirRows: each /api row of the table is what the mux
// picks for a request to it, built from the document's parameter examples.
func TestRoutesServeTheirRows(t *testing.T) {
	doc := openAPIDoc(t)
	h := New(Config{}, &fakeBackend{}, NewHub())
	mux := h.routes(nil)
	for _, e := range apiRoutes(h) {
		t.Run(e.method+" "+e.path, func(t *testing.T) {
			target := wildcard.ReplaceAllStringFunc(e.path, func(w string) string {
				m := wildcard.FindStringSubmatch(w)
				ex := paramExample(t, doc, wildcard.ReplaceAllString(e.path, "{$1}"), e.method, m[1])
				if m[2] == "" {
					return url.PathEscape(ex)
				}
				return ex // a {name...} wildcard takes the rest of the path as is
			})
			_, pattern := mux.Handler(httptest.NewRequest(e.method, target, nil))
			if want := e.method + " " + e.path; pattern != want {
				t.Errorf("%s %s is served by %q, want %q", e.method, target, pattern, want)
			}
		})
	}
}

// paramExample returns the example of path parameter name of an operation.
func paramExample(t *testing.T, doc map[string]any, path, method, name string) string {
	t.Helper()
	op, _ := dig(doc, "paths", path, strings.ToLower(method)).(map[string]any)
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		p, _ := p.(map[string]any)
		if p["name"] == name && p["in"] == "path" {
			if ex, ok := p["example"].(string); ok {
				return ex
			}
		}
	}
	t.Fatalf("%s %s: path parameter %s has no example in openapi.yaml", method, path, name)
	return ""
}

// TestOpenAPIErrorEnums: the document's error types and codes are exactly
// those writeError can send.
func TestOpenAPIErrorEnums(t *testing.T) {
	doc := openAPIDoc(t)
	types, codes := []any{"server_error"}, []any{nil}
	for _, c := range errorClasses {
		if !slices.Contains(types, any(c.class.typ)) {
			types = append(types, c.class.typ)
		}
		if !slices.Contains(codes, any(c.class.code)) {
			codes = append(codes, c.class.code)
		}
	}
	detail := dig(doc, "components", "schemas", "ErrorDetail", "properties")
	for field, want := range map[string][]any{"type": types, "code": codes} {
		got, _ := dig(detail, field, "enum").([]any)
		if !sameElements(got, want) {
			t.Errorf("ErrorDetail.%s enum %v, want %v", field, got, want)
		}
	}
}

// sameElements reports whether a and b hold the same values in any order.
func sameElements(a, b []any) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(v any) bool { return !slices.Contains(b, v) })
}

// writeOnly are Go fields the response schemas leave out because they are
// never sent: "Schema.field".
var writeOnly = map[string]string{
	"Settings.api_key":            "write-only: the store keeps only its hash",
	"ServerSettings.api_key_hash": "cleared in responses and not writable",
}

// TestOpenAPISchemasMatchGoTypes: every JSON field of the response types is
// documented, required exactly when Go always sends it, and the schemas of
// Go structs are closed (additionalProperties: false), so a field added to
// a type without documenting it fails here even when a test's data never
// sends it.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := openAPIDoc(t)
	roots := []struct {
		typ    reflect.Type
		schema string
	}{
		{reflect.TypeFor[Status](), "Status"},
		{reflect.TypeFor[SettingsBody](), "Settings"},
		{reflect.TypeFor[ModelsBody](), "Models"},
		{reflect.TypeFor[DownloadsBody](), "Downloads"},
		{reflect.TypeFor[SearchBody](), "SearchResults"},
		{reflect.TypeFor[PullRequest](), "PullRequest"},
		{reflect.TypeFor[PullResponse](), "PullResponse"},
		{reflect.TypeFor[ErrorBody](), "Error"},
		{reflect.TypeFor[RequestsBody](), "Requests"},
		{reflect.TypeFor[CacheClearBody](), "CacheClear"},
	}
	for _, r := range roots {
		t.Run(r.schema, func(t *testing.T) {
			compareType(t, doc, r.typ, ref(r.schema), r.schema)
		})
	}
}

// ref is a $ref to components/schemas/name.
func ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

// compareType compares Go struct typ with the object schema s (named name
// when it is a component, for messages and writeOnly) and recurses into
// fields of struct types.
func compareType(t *testing.T, doc map[string]any, typ reflect.Type, s map[string]any, name string) {
	t.Helper()
	props, required, closed := objectSchema(doc, s)
	if !closed {
		t.Errorf("schema %s of Go type %s lacks additionalProperties: false", name, typ)
	}
	fields := jsonFields(typ)
	for field, f := range fields {
		if _, ok := writeOnly[name+"."+field]; ok {
			continue
		}
		p, ok := props[field]
		if !ok {
			t.Errorf("%s.%s (Go %s) is not documented in schema %s", typ.Name(), f.goName, typ, name)
			continue
		}
		if slices.Contains(required, field) == f.optional {
			t.Errorf("%s.%s: required in schema %s is %v, but Go omits it when empty: %v", name, field, name, !f.optional, f.optional)
		}
		if sub, subSchema, subName, ok := structSchema(f.typ, p); ok {
			compareType(t, doc, sub, subSchema, cmpName(subName, name+"."+field))
		}
	}
	for field := range props {
		if _, ok := fields[field]; !ok {
			t.Errorf("schema %s documents %s, which Go type %s does not have", name, field, typ)
		}
	}
}

// cmpName is the component's name, or the field path for inline schemas.
func cmpName(component, path string) string {
	if component != "" {
		return component
	}
	return path
}

// jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	goName   string
	typ      reflect.Type
	optional bool // omitempty or omitzero
}

// jsonFields lists typ's JSON fields by name, flattening embedded structs.
func jsonFields(typ reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(elemType(f.Type)) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		out[name] = jsonField{goName: f.Name, typ: f.Type, optional: optional}
	}
	return out
}

// elemType strips pointers and slices down to the element type.
func elemType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t
}

// structSchema returns the Go struct type and the schema of a field
// (through pointers, slices and array items), with the component's name
// when the schema is a $ref to one.
func structSchema(typ reflect.Type, s any) (reflect.Type, map[string]any, string, bool) {
	typ = elemType(typ)
	if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() {
		return nil, nil, "", false
	}
	m, _ := s.(map[string]any)
	if items, ok := m["items"].(map[string]any); ok {
		m = items
	}
	r, _ := m["$ref"].(string)
	return typ, m, strings.TrimPrefix(r, "#/components/schemas/"), true
}

// objectSchema collects the properties and required fields of object
// schema s, through $ref and allOf, and whether one of its parts closes it
// (additionalProperties: false).
func objectSchema(doc map[string]any, s map[string]any) (map[string]any, []string, bool) {
	props := map[string]any{}
	var required []string
	closed := s["additionalProperties"] == false
	if p, ok := s["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	req, _ := s["required"].([]any)
	for _, r := range req {
		required = append(required, r.(string))
	}
	parts, _ := s["allOf"].([]any)
	if r, ok := s["$ref"].(string); ok {
		parts = append(parts, dig(doc, strings.Split(strings.TrimPrefix(r, "#/"), "/")...))
	}
	for _, part := range parts {
		m, _ := part.(map[string]any)
		p, r, c := objectSchema(doc, m)
		for k, v := range p {
			if _, ok := props[k]; !ok {
				props[k] = v
			}
		}
		required, closed = append(required, r...), closed || c
	}
	return props, required, closed
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
