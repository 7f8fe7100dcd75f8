package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ardanlabs/jinja"
)

// toValue converts any JSON-marshalable Go value into a template value.
// It goes through JSON so that struct field order and the key order of a
// json.RawMessage survive: templates print tool schemas with tojson, and
// Python keeps the order the client sent (Go maps are sorted instead).
func toValue(v any) (jinja.Value, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return jinja.Undefined(), fmt.Errorf("encode template input: %w", err)
	}
	return decodeValue(data)
}

// decodeValue parses JSON into a template value, keeping object key order and
// the int/float distinction Python's json module makes.
func decodeValue(data []byte) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeNext(dec)
	if err != nil {
		return jinja.Undefined(), fmt.Errorf("decode template input: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return jinja.Undefined(), fmt.Errorf("decode template input: trailing data")
	}
	return v, nil
}

func decodeNext(dec *json.Decoder) (jinja.Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return jinja.Undefined(), err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return decodeObject(dec)
		}
		return decodeArray(dec)
	case json.Number:
		return jinja.FromGoValue(t), nil
	default: // nil, bool, string
		return jinja.FromGoValue(t), nil
	}
}

func decodeObject(dec *json.Decoder) (jinja.Value, error) {
	obj := jinja.NewDict()
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return jinja.Undefined(), err
		}
		val, err := decodeNext(dec)
		if err != nil {
			return jinja.Undefined(), err
		}
		obj.AsDict().Set(key.(string), val)
	}
	_, err := dec.Token() // '}'
	return obj, err
}

func decodeArray(dec *json.Decoder) (jinja.Value, error) {
	items := []jinja.Value{}
	for dec.More() {
		val, err := decodeNext(dec)
		if err != nil {
			return jinja.Undefined(), err
		}
		items = append(items, val)
	}
	_, err := dec.Token() // ']'
	return jinja.NewList(items), err
}

// parseToolArguments replaces every messages[i].tool_calls[j].function.arguments
// that is a JSON object string by the object itself. Templates are written for
// Hugging Face's convention (arguments as a mapping) and print them with
// tojson; mlx-lm's server does the same conversion.
func parseToolArguments(messages jinja.Value) {
	if !messages.IsList() {
		return
	}
	for _, msg := range messages.AsList().Items {
		calls, ok := field(msg, "tool_calls")
		if !ok || !calls.IsList() {
			continue
		}
		for _, call := range calls.AsList().Items {
			fn, ok := field(call, "function")
			if !ok {
				continue
			}
			args, ok := field(fn, "arguments")
			if !ok || !args.IsString() {
				continue
			}
			if obj, err := decodeValue([]byte(args.AsString())); err == nil && obj.IsDict() {
				fn.AsDict().Set("arguments", obj)
			}
		}
	}
}

func field(v jinja.Value, key string) (jinja.Value, bool) {
	if !v.IsDict() {
		return jinja.Undefined(), false
	}
	return v.AsDict().Get(key)
}
