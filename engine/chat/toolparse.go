package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// errNotToolCall marks model text that has a tool-call marker but not a
// valid call; the parser returns such text as content.
var errNotToolCall = errors.New("not a tool call")

// parsedCall is a decoded call before it gets an id.
type parsedCall struct {
	name string
	args json.RawMessage // a JSON object, or a JSON string holding one
}

// toolCall renders the call in OpenAI's shape: arguments as a JSON string.
func (c parsedCall) toolCall(id string) ToolCall {
	return ToolCall{ID: id, Type: "function", Function: FunctionCall{Name: c.name, Arguments: argumentString(c.args)}}
}

func argumentString(args json.RawMessage) string {
	var s string
	if json.Unmarshal(args, &s) == nil {
		return s // the model already wrote the arguments as a string
	}
	var buf bytes.Buffer
	if len(args) == 0 || json.Compact(&buf, args) != nil || buf.String() == "null" {
		return "{}"
	}
	return buf.String()
}

// callObject is the JSON shape most formats use for one call.
type callObject struct {
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments"`
	Parameters json.RawMessage `json:"parameters"`
}

// decodeCall reads {"name": ..., "arguments"|"parameters": {...}}.
func decodeCall(data []byte) (parsedCall, error) {
	var obj callObject
	if err := json.Unmarshal(data, &obj); err != nil {
		return parsedCall{}, fmt.Errorf("%w: %w", errNotToolCall, err)
	}
	if obj.Name == "" {
		return parsedCall{}, fmt.Errorf("%w: no function name", errNotToolCall)
	}
	args := obj.Arguments
	if len(args) == 0 {
		args = obj.Parameters
	}
	if !validArguments(args) {
		return parsedCall{}, fmt.Errorf("%w: arguments of %s are not an object", errNotToolCall, obj.Name)
	}
	return parsedCall{name: obj.Name, args: args}, nil
}

// validArguments accepts nothing, null, an object, or a string.
func validArguments(args json.RawMessage) bool {
	t := bytes.TrimSpace(args)
	return len(t) == 0 || string(t) == "null" || t[0] == '{' || t[0] == '"'
}

// parseHermes reads the body of <tool_call>...</tool_call>.
func parseHermes(body string) ([]parsedCall, error) {
	c, err := decodeCall([]byte(body))
	if err != nil {
		return nil, err
	}
	return []parsedCall{c}, nil
}

// parseLlama reads one Llama 3 JSON call.
func parseLlama(body string) ([]parsedCall, error) {
	return parseHermes(body)
}

// parseMistralArray reads [TOOL_CALLS]'s JSON array of calls.
func parseMistralArray(body string) ([]parsedCall, error) {
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(body), &items); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotToolCall, err)
	}
	calls := make([]parsedCall, 0, len(items))
	for _, item := range items {
		c, err := decodeCall(item)
		if err != nil {
			return nil, err
		}
		calls = append(calls, c)
	}
	return calls, nil
}

// namedCall reads the arguments object of Mistral's name[ARGS]{...}.
func namedCall(name, args string) ([]parsedCall, error) {
	if name == "" || !json.Valid([]byte(args)) || !validArguments(json.RawMessage(args)) {
		return nil, fmt.Errorf("%w: bad arguments for %q", errNotToolCall, name)
	}
	return []parsedCall{{name: name, args: json.RawMessage(args)}}, nil
}

type jsonStatus int

const (
	jsonIncomplete jsonStatus = iota
	jsonComplete
	jsonInvalid
)

// jsonValueEnd finds where the JSON object or array at the start of s ends,
// by bracket matching outside strings. A complete value is also checked with
// json.Valid.
func jsonValueEnd(s string) (int, jsonStatus) {
	if s == "" {
		return 0, jsonIncomplete
	}
	if s[0] != '{' && s[0] != '[' {
		return 0, jsonInvalid
	}
	var stack []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			end := skipString(s, i)
			if end >= len(s) {
				return 0, jsonIncomplete
			}
			i = end
		case '{', '[':
			stack = append(stack, map[byte]byte{'{': '}', '[': ']'}[c])
		case '}', ']':
			if stack[len(stack)-1] != c {
				return 0, jsonInvalid
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				if !json.Valid([]byte(s[:i+1])) {
					return 0, jsonInvalid
				}
				return i + 1, jsonComplete
			}
		}
	}
	return 0, jsonIncomplete
}
