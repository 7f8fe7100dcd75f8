package chat

import (
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/ardanlabs/jinja"
)

// pyStrName is the filter every {{ expression }} is printed through, so that
// output matches Python's str(): "None" for none, "1.0" for floats, Python
// reprs for lists and dicts. The jinja package prints Go-style values.
const pyStrName = "lmx_py_str"

func pyStrFilter(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.NewString(""), nil
	}
	return jinja.NewString(pyStr(args[0])), nil
}

// pyStr is Python's str() of a template value; undefined prints as "".
func pyStr(v jinja.Value) string {
	switch {
	case v.IsUndefined(), v.IsCallable():
		return ""
	case v.IsString():
		return v.AsString()
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a template value.
func pyRepr(v jinja.Value) string {
	switch {
	case v.IsUndefined(), v.IsCallable():
		return ""
	case v.IsNone():
		return "None"
	case v.IsBool():
		return map[bool]string{true: "True", false: "False"}[v.AsBool()]
	case v.IsInt():
		return fmt.Sprint(v.AsInt())
	case v.IsFloat():
		return pyFloatRepr(v.AsFloat())
	case v.IsString():
		return pyStringRepr(v.AsString())
	case v.IsList():
		parts := make([]string, 0, v.AsList().Len())
		for _, item := range v.AsList().Items {
			parts = append(parts, pyRepr(item))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case v.IsDict():
		d := v.AsDict()
		parts := make([]string, 0, d.Len())
		for _, k := range d.OrderedKeys() {
			val, _ := d.Get(k)
			parts = append(parts, pyStringRepr(k)+": "+pyRepr(val))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return ""
}

// pyFloatRepr is repr(float), including inf and nan.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s, _ := pyFloat(f)
	return s
}

// pyStringRepr quotes s as Python's repr does: single quotes unless s holds
// a single quote and no double quote; backslash escapes for controls.
func pyStringRepr(s string) string {
	quote := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		quote = '"'
	}
	var sb strings.Builder
	sb.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte(quote)
	return sb.String()
}

// titleName is Jinja2's title filter: words start after whitespace, '-',
// '(', '{', '[' or '<'; the first letter is upper-cased, the rest lowered.
const titleName = "lmx_title"

func titleFilter(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.NewString(""), nil
	}
	var sb strings.Builder
	start := true
	for _, r := range pyStr(args[0]) {
		if start {
			sb.WriteRune(unicode.ToUpper(r))
		} else {
			sb.WriteRune(unicode.ToLower(r))
		}
		start = unicode.IsSpace(r) || strings.ContainsRune("-({[<", r)
	}
	return jinja.NewString(sb.String()), nil
}
