package grammar

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// member is one key of a JSON object, in document order.
type member struct {
	key string
	val json.RawMessage
}

// members splits a JSON object into its members in order (ok false when raw
// is not an object).
func members(raw json.RawMessage) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, member{tok.(string), v})
	}
	return out, true
}

func field(raw json.RawMessage, key string) json.RawMessage {
	ms, _ := members(raw)
	for _, m := range ms {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// resolve follows local "$ref": "#/a/b" pointers of schema within root.
func resolve(schema, root json.RawMessage) json.RawMessage {
	for range 16 {
		var ref string
		if json.Unmarshal(field(schema, "$ref"), &ref) != nil || !strings.HasPrefix(ref, "#") {
			return schema
		}
		next := root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
			part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
			if i, err := strconv.Atoi(part); err == nil {
				var arr []json.RawMessage
				if json.Unmarshal(next, &arr) == nil && i < len(arr) {
					next = arr[i]
					continue
				}
			}
			next = field(next, part)
		}
		if next == nil {
			return schema
		}
		schema = next
	}
	return schema
}

// schemaOrder rewrites an instance with each object's keys in the order its
// schema's "properties" lists them, other keys after, in their order: the
// same JSON value, in the order llguidance generates properties.
func schemaOrder(inst, schema, root json.RawMessage) json.RawMessage {
	schema = resolve(schema, root)
	if ms, ok := members(inst); ok {
		props, _ := members(field(schema, "properties"))
		var b bytes.Buffer
		b.WriteByte('{')
		done := map[string]bool{}
		emit := func(m member, sub json.RawMessage) {
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			k, _ := marshalNoEscape(m.key)
			b.Write(k)
			b.WriteByte(':')
			b.Write(schemaOrder(m.val, sub, root))
			done[m.key] = true
		}
		for _, p := range props {
			for _, m := range ms {
				if m.key == p.key {
					emit(m, p.val)
				}
			}
		}
		for _, m := range ms {
			if !done[m.key] {
				emit(m, field(schema, "additionalProperties"))
			}
		}
		b.WriteByte('}')
		return b.Bytes()
	}
	var items []json.RawMessage
	if json.Unmarshal(inst, &items) == nil && len(bytes.TrimSpace(inst)) > 0 && bytes.TrimSpace(inst)[0] == '[' {
		sub := field(schema, "items")
		var b bytes.Buffer
		b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(schemaOrder(it, sub, root))
		}
		b.WriteByte(']')
		return b.Bytes()
	}
	return inst
}

func marshalNoEscape(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n"), err
}
