package chat

import (
	"encoding/json"
	"fmt"
	"strings"
)

// parseToolCallBody reads the body of <tool_call>...</tool_call> in any of
// the shapes templates teach: Hermes/Qwen JSON, Qwen3-Coder / Qwen3.5 /
// Nemotron <function=name><parameter=key>value</parameter></function>, and
// GLM's name<arg_key>key</arg_key><arg_value>value</arg_value>.
func parseToolCallBody(body string) ([]parsedCall, error) {
	s := strings.TrimSpace(body)
	switch {
	case strings.HasPrefix(s, "{"):
		return parseHermes(s)
	case strings.HasPrefix(s, "<function="):
		return parseFunctionXML(s)
	default:
		return parseArgKeys(s)
	}
}

// parseFunctionXML reads <function=name><parameter=key>\nvalue\n</parameter>...</function>.
func parseFunctionXML(s string) ([]parsedCall, error) {
	rest := strings.TrimPrefix(s, "<function=")
	gt := strings.IndexByte(rest, '>')
	if gt <= 0 || !isFunctionName(rest[:gt]) {
		return nil, fmt.Errorf("%w: bad <function=...>", errNotToolCall)
	}
	name := rest[:gt]
	rest, ok := strings.CutSuffix(strings.TrimSpace(rest[gt+1:]), "</function>")
	if !ok {
		return nil, fmt.Errorf("%w: no </function>", errNotToolCall)
	}
	var pairs []string
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		key, value, after, err := cutElement(rest, "<parameter=", ">", "</parameter>")
		if err != nil {
			return nil, err
		}
		value = strings.TrimSuffix(strings.TrimPrefix(value, "\n"), "\n")
		pairs = append(pairs, jsonKey(key)+":"+jsonValue(value))
		rest = after
	}
	return []parsedCall{{name: name, args: json.RawMessage("{" + strings.Join(pairs, ",") + "}")}}, nil
}

// parseArgKeys reads name<arg_key>key</arg_key><arg_value>value</arg_value>....
func parseArgKeys(s string) ([]parsedCall, error) {
	cut := strings.Index(s, "<arg_key>")
	if cut < 0 {
		cut = len(s)
	}
	name := strings.TrimSpace(s[:cut])
	if name == "" || !isFunctionName(name) {
		return nil, fmt.Errorf("%w: no function name", errNotToolCall)
	}
	var pairs []string
	for rest := strings.TrimSpace(s[cut:]); rest != ""; rest = strings.TrimSpace(rest) {
		_, key, after, err := cutElement(rest, "<arg_key>", "", "</arg_key>")
		if err != nil {
			return nil, err
		}
		_, value, after2, err := cutElement(strings.TrimSpace(after), "<arg_value>", "", "</arg_value>")
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, jsonKey(key)+":"+jsonValue(value))
		rest = after2
	}
	return []parsedCall{{name: name, args: json.RawMessage("{" + strings.Join(pairs, ",") + "}")}}, nil
}

// cutElement splits "<open ATTR sep>TEXT</close>REST" at the start of s. With
// sep "" there is no attribute and TEXT starts right after open.
func cutElement(s, open, sep, closeTag string) (attr, text, rest string, err error) {
	body, ok := strings.CutPrefix(s, open)
	if !ok {
		return "", "", "", fmt.Errorf("%w: expected %s", errNotToolCall, open)
	}
	if sep != "" {
		i := strings.Index(body, sep)
		if i <= 0 {
			return "", "", "", fmt.Errorf("%w: unterminated %s", errNotToolCall, open)
		}
		attr, body = body[:i], body[i+len(sep):]
	}
	end := strings.Index(body, closeTag)
	if end < 0 {
		return "", "", "", fmt.Errorf("%w: no %s", errNotToolCall, closeTag)
	}
	return attr, body[:end], body[end+len(closeTag):], nil
}

func jsonKey(k string) string {
	b, _ := json.Marshal(strings.TrimSpace(k))
	return string(b)
}

// jsonValue keeps a value that is JSON other than a string (numbers, bools,
// objects: templates print those with tojson) and quotes anything else.
// Without the tool's schema a string parameter holding "42" becomes 42.
func jsonValue(v string) string {
	t := strings.TrimSpace(v)
	if t != "" && t[0] != '"' && json.Valid([]byte(t)) {
		return t
	}
	b, _ := json.Marshal(v)
	return string(b)
}
