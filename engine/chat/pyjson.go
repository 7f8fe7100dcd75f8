package chat

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/ardanlabs/jinja"
)

// hfToJSON is the template's tojson filter. Hugging Face replaces Jinja's own
// (HTML-escaping) tojson by json.dumps(x, ensure_ascii=False, indent=indent,
// separators=separators, sort_keys=sort_keys); this reproduces that byte for
// byte, since the JSON text of tool schemas is part of the prompt.
func hfToJSON(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), fmt.Errorf("tojson: missing value")
	}
	p, err := newPyJSON(kwargs)
	if err != nil {
		return jinja.Undefined(), err
	}
	if err := p.encode(args[0], 0); err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(p.sb.String()), nil
}

// newPyJSON reads json.dumps' keyword arguments: with an indent the default
// item separator loses its trailing space, as in Python.
func newPyJSON(kwargs map[string]jinja.Value) (*pyJSON, error) {
	p := &pyJSON{itemSep: ", ", keySep: ": "}
	if ind, ok := kwargs["indent"]; ok && !ind.IsNone() && !ind.IsUndefined() {
		p.indented, p.itemSep = true, ","
		switch {
		case ind.IsInt():
			p.indent = strings.Repeat(" ", int(max(ind.AsInt(), 0)))
		case ind.IsString():
			p.indent = ind.AsString()
		default:
			return nil, fmt.Errorf("tojson: indent must be an int or a string")
		}
	}
	if sep, ok := kwargs["separators"]; ok && !sep.IsNone() && !sep.IsUndefined() {
		if !sep.IsList() || sep.AsList().Len() != 2 || !sep.AsList().Get(0).IsString() || !sep.AsList().Get(1).IsString() {
			return nil, fmt.Errorf("tojson: separators must be two strings")
		}
		p.itemSep, p.keySep = sep.AsList().Get(0).AsString(), sep.AsList().Get(1).AsString()
	}
	if sk, ok := kwargs["sort_keys"]; ok {
		p.sortKeys = sk.IsTruthy()
	}
	if ea, ok := kwargs["ensure_ascii"]; ok {
		p.ascii = ea.IsTruthy()
	}
	return p, nil
}

// pyJSON encodes template values exactly like Hugging Face's tojson filter:
// Python's json.dumps with ensure_ascii=False and the given separators,
// indent and sort_keys.
type pyJSON struct {
	sb       strings.Builder
	itemSep  string
	keySep   string
	indent   string
	indented bool
	sortKeys bool
	ascii    bool // ensure_ascii: non-ASCII as \uXXXX escapes
}

func (p *pyJSON) encode(v jinja.Value, depth int) error {
	switch {
	case v.IsUndefined(), v.IsNone(), v.IsCallable():
		p.sb.WriteString("null")
	case v.IsBool():
		p.sb.WriteString(map[bool]string{true: "true", false: "false"}[v.AsBool()])
	case v.IsInt():
		fmt.Fprintf(&p.sb, "%d", v.AsInt())
	case v.IsFloat():
		s, err := pyFloat(v.AsFloat())
		if err != nil {
			return err
		}
		p.sb.WriteString(s)
	case v.IsString():
		p.sb.WriteString(pyQuote(v.AsString(), p.ascii))
	case v.IsList():
		return p.encodeList(v.AsList().Items, depth)
	case v.IsDict():
		return p.encodeDict(v.AsDict(), depth)
	}
	return nil
}

func (p *pyJSON) encodeList(items []jinja.Value, depth int) error {
	if len(items) == 0 {
		p.sb.WriteString("[]")
		return nil
	}
	p.sb.WriteByte('[')
	for i, item := range items {
		p.separate(i, depth+1)
		if err := p.encode(item, depth+1); err != nil {
			return err
		}
	}
	p.newline(depth)
	p.sb.WriteByte(']')
	return nil
}

func (p *pyJSON) encodeDict(d *jinja.Dict, depth int) error {
	if d.Len() == 0 {
		p.sb.WriteString("{}")
		return nil
	}
	keys := d.OrderedKeys()
	if p.sortKeys {
		keys = sortedCopy(keys)
	}
	p.sb.WriteByte('{')
	for i, k := range keys {
		p.separate(i, depth+1)
		p.sb.WriteString(pyQuote(k, p.ascii))
		p.sb.WriteString(p.keySep)
		val, _ := d.Get(k)
		if err := p.encode(val, depth+1); err != nil {
			return err
		}
	}
	p.newline(depth)
	p.sb.WriteByte('}')
	return nil
}

// separate writes what precedes the i-th element of a container.
func (p *pyJSON) separate(i, depth int) {
	if i > 0 {
		p.sb.WriteString(p.itemSep)
	}
	p.newline(depth)
}

func (p *pyJSON) newline(depth int) {
	if p.indented {
		p.sb.WriteByte('\n')
		p.sb.WriteString(strings.Repeat(p.indent, depth))
	}
}

// pyFloat formats f like Python's float repr: the shortest round-tripping
// digits, fixed notation for exponents in [-4, 16) with a ".0" when integral,
// scientific notation with a two-digit exponent otherwise.
func pyFloat(f float64) (string, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		// json.dumps writes Infinity/NaN, which is not JSON; no tool schema has them.
		return "", fmt.Errorf("tojson: cannot encode %v", f)
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci, nil
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s, nil
}

// pyQuote quotes s like json.dumps: the quote, the backslash and C0
// controls are escaped, and with ascii (ensure_ascii) every non-ASCII
// character too, as UTF-16 \uXXXX escapes.
func pyQuote(s string, ascii bool) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || ascii && r > 0x7e && r <= 0xffff:
				fmt.Fprintf(&sb, `\u%04x`, r)
			case ascii && r > 0xffff:
				hi, lo := utf16.EncodeRune(r)
				fmt.Fprintf(&sb, `\u%04x\u%04x`, hi, lo)
			default:
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

func sortedCopy(keys []string) []string {
	out := slices.Clone(keys)
	slices.Sort(out)
	return out
}
