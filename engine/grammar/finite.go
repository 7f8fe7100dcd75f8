package grammar

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// checkFinite refuses a JSON schema that no finite value satisfies because
// it requires itself (a $ref cycle without a base case, such as an object
// whose required property is the object again). llguidance compiles such a
// schema, and a model would then generate until its token limit.
//
// It is a least-fixpoint productivity check over local $ref targets: a
// reference is productive once its target can be satisfied using only
// references already known productive. Keywords it does not model count as
// satisfiable, so it only refuses what certainly has no instance.
func checkFinite(schema []byte) error {
	var root any
	if err := json.Unmarshal(schema, &root); err != nil {
		return err // withOptions has already reported it
	}
	f := finite{root: root, known: map[string]bool{}, targets: map[string]any{}}
	f.collect(root)
	for changed := true; changed; {
		changed = false
		for ref, target := range f.targets {
			if !f.known[ref] && f.productive(target) {
				f.known[ref], changed = true, true
			}
		}
	}
	if f.productive(root) {
		return nil
	}
	var cyc []string
	for ref := range f.targets {
		if !f.known[ref] {
			cyc = append(cyc, ref)
		}
	}
	slices.Sort(cyc)
	if len(cyc) > 3 {
		cyc = append(cyc[:3], "…")
	}
	return fmt.Errorf("no finite value satisfies the schema: it requires itself through %s with no way to stop (add a base case, e.g. make the recursive property optional)", strings.Join(cyc, ", "))
}

type finite struct {
	root    any
	known   map[string]bool // $ref -> proven productive
	targets map[string]any  // every resolvable local $ref -> its schema
}

// collect records every local $ref reachable from s.
func (f *finite) collect(s any) {
	switch v := s.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			if _, seen := f.targets[ref]; !seen {
				if target, ok := f.resolve(ref); ok {
					f.targets[ref] = target
					f.collect(target)
				}
			}
		}
		for _, sub := range v {
			f.collect(sub)
		}
	case []any:
		for _, sub := range v {
			f.collect(sub)
		}
	}
}

// resolve follows a local JSON pointer ("#/$defs/a").
func (f *finite) resolve(ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#") {
		return nil, false
	}
	cur := f.root
	for _, part := range strings.Split(ref[1:], "/")[1:] {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[part]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// productive reports whether some finite value satisfies s, given the
// references proven so far.
func (f *finite) productive(s any) bool {
	m, ok := s.(map[string]any)
	if !ok {
		return s != false
	}
	if ref, ok := m["$ref"].(string); ok {
		if _, local := f.targets[ref]; local && !f.known[ref] {
			return false
		}
	}
	if all, ok := m["allOf"].([]any); ok && !f.every(all) {
		return false
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := m[key].([]any); ok && !slices.ContainsFunc(alts, f.productive) {
			return false
		}
	}
	if _, ok := m["enum"]; ok {
		return true
	}
	if _, ok := m["const"]; ok {
		return true
	}
	ts := types(m)
	return ts == nil || slices.ContainsFunc(ts, func(t string) bool { return f.typeProductive(t, m) })
}

func (f *finite) every(schemas []any) bool {
	for _, s := range schemas {
		if !f.productive(s) {
			return false
		}
	}
	return true
}

// types lists the schema's "type" (nil when it has none: any type).
func types(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, v := range t {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (f *finite) typeProductive(t string, m map[string]any) bool {
	switch t {
	case "object":
		props, _ := m["properties"].(map[string]any)
		req, _ := m["required"].([]any)
		for _, name := range req {
			if n, ok := name.(string); ok {
				if sub, ok := props[n]; ok && !f.productive(sub) {
					return false
				}
			}
		}
		return true
	case "array":
		return f.arrayProductive(m)
	}
	return true
}

// arrayProductive: an array needs its first minItems items satisfiable.
func (f *finite) arrayProductive(m map[string]any) bool {
	min, _ := m["minItems"].(float64)
	prefix, _ := m["prefixItems"].([]any)
	if tuple, ok := m["items"].([]any); ok { // draft 4-7 tuple form
		prefix = tuple
	}
	for i := 0; i < int(min); i++ {
		var item any = true
		switch {
		case i < len(prefix):
			item = prefix[i]
		case m["items"] != nil && !isArray(m["items"]):
			item = m["items"]
		}
		if !f.productive(item) {
			return false
		}
		if i >= len(prefix) {
			break // the remaining items share one schema
		}
	}
	return true
}

func isArray(v any) bool { _, ok := v.([]any); return ok }
