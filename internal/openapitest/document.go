package openapitest

import (
	"bytes"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Operation is one documented method and path ("GET", "/api/models/{repo}").
type Operation struct {
	Method string
	Path   string
}

// methods are the HTTP methods an OpenAPI path item may describe.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Parse prepares an OpenAPI 3.1 document given as JSON (as a server serves
// it), registered under url. Unlike OpenAI's document it is checked as
// written: formats (date-time) and content keywords (contentSchema, which
// describes JSON inside a string such as an SSE event's data) are asserted.
func Parse(url string, doc []byte) (*Spec, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	return compile(url, doc, c)
}

// Operations lists the document's operations, sorted by path and method.
func (s *Spec) Operations() []Operation {
	paths, _ := s.doc["paths"].(map[string]any)
	var ops []Operation
	for path, item := range paths {
		item, _ := item.(map[string]any)
		for _, m := range methods {
			if _, ok := item[m]; ok {
				ops = append(ops, Operation{Method: strings.ToUpper(m), Path: path})
			}
		}
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	})
	return ops
}

// object returns the document's object at JSON pointer ptr ("" for the
// root), following Reference Objects ({"$ref": "#/..."}), and the pointer
// it was found at.
func (s *Spec) object(ptr string) (map[string]any, string, error) {
	v := any(s.doc)
	for _, tok := range strings.Split(ptr, "/")[1:] {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("%s: no object at %s", s.url, ptr)
		}
		v = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)]
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, "", fmt.Errorf("%s: no object at %s", s.url, ptr)
	}
	if ref, ok := m["$ref"].(string); ok && len(m) == 1 && strings.HasPrefix(ref, "#/") {
		return s.object(ref[1:])
	}
	return m, ptr, nil
}

// Responses lists the status codes documented for op, sorted.
func (s *Spec) Responses(op Operation) ([]int, error) {
	resps, _, err := s.object(opPointer(op) + "/responses")
	if err != nil {
		return nil, err
	}
	var codes []int
	for k := range resps {
		code, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("%s %s: response %q is not a status code", op.Method, op.Path, k)
		}
		codes = append(codes, code)
	}
	slices.Sort(codes)
	return codes, nil
}

// CheckResponse returns why a response of op with status, Content-Type
// contentType and body is not what the document describes, or nil: the
// status must be documented, a response without content must have no body,
// and a body must be valid against the schema of its media type. For a
// stream (text/event-stream) body is one event as JSON.
func (s *Spec) CheckResponse(op Operation, status int, contentType string, body []byte) error {
	resp, ptr, err := s.object(fmt.Sprintf("%s/responses/%d", opPointer(op), status))
	if err != nil {
		return fmt.Errorf("%s %s: status %d is not documented", op.Method, op.Path, status)
	}
	if _, ok := resp["content"]; !ok {
		if len(body) > 0 {
			return fmt.Errorf("%s %s %d: the document has no content, the response %d bytes", op.Method, op.Path, status, len(body))
		}
		return nil
	}
	return s.checkContent(ptr, contentType, body)
}

// CheckRequest returns why a request body of op is not valid against the
// document's request body schema for contentType, or nil.
func (s *Spec) CheckRequest(op Operation, contentType string, body []byte) error {
	_, ptr, err := s.object(opPointer(op) + "/requestBody")
	if err != nil {
		return fmt.Errorf("%s %s takes no request body", op.Method, op.Path)
	}
	return s.checkContent(ptr, contentType, body)
}

// checkContent validates body against the schema of the media type of
// contentType under the Response or Request Body Object at ptr.
func (s *Spec) checkContent(ptr, contentType string, body []byte) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	schemaPtr := ptr + "/content/" + strings.ReplaceAll(mt, "/", "~1") + "/schema"
	if _, _, err := s.object(schemaPtr); err != nil {
		return fmt.Errorf("%s: media type %s is not documented", ptr, mt)
	}
	sch, err := s.schemaAt(schemaPtr)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("not valid against %s: %w", schemaPtr, err)
	}
	return nil
}

// CompileAll compiles every schema of components/schemas and of the
// operations' request and response bodies, so a schema no test reaches is
// still checked against the JSON Schema 2020-12 meta-schema.
func (s *Spec) CompileAll() error {
	schemas, _, _ := s.object("/components/schemas")
	for name := range schemas {
		if _, err := s.schema(name); err != nil {
			return err
		}
	}
	for _, op := range s.Operations() {
		var bodies []string
		if _, ptr, err := s.object(opPointer(op) + "/requestBody"); err == nil {
			bodies = append(bodies, ptr)
		}
		codes, err := s.Responses(op)
		if err != nil {
			return err
		}
		for _, code := range codes {
			_, ptr, err := s.object(fmt.Sprintf("%s/responses/%d", opPointer(op), code))
			if err != nil {
				return err
			}
			bodies = append(bodies, ptr)
		}
		for _, ptr := range bodies {
			content, _, _ := s.object(ptr + "/content")
			for mt := range content {
				if _, err := s.schemaAt(ptr + "/content/" + strings.ReplaceAll(mt, "/", "~1") + "/schema"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// opPointer is the JSON pointer of op's Operation Object.
func opPointer(op Operation) string {
	path := strings.NewReplacer("~", "~0", "/", "~1").Replace(op.Path)
	return "/paths/" + path + "/" + strings.ToLower(op.Method)
}
