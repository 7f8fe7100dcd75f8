package grammar

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// objectOfProps is a schema of n optional enum properties, about 47 bytes
// each.
func objectOfProps(n int) string {
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"p%d":{"type":"string","enum":["a%d","b%d"]}`, i, i, i)
	}
	b.WriteString(`}}`)
	return b.String()
}

// TestBadSpecs: a spec the engine cannot use is an ErrInvalidSpec error
// naming the problem, returned promptly, never a hang or a crash.
func TestBadSpecs(t *testing.T) {
	l := shared(t, "smollm2")
	for _, tc := range []struct {
		name, want string // want: a substring of the message
		spec       Spec
	}{
		{"not JSON", "not JSON", JSONSchema([]byte(`{"type": "object",`))},
		{"not a schema", "JSON object or a boolean", JSONSchema([]byte(`[1,2]`))},
		{"false schema", "allows no value", JSONSchema([]byte(`false`))},
		{"empty spec", "empty", Spec{}},
		{"ref cycle", "requires itself through #/$defs/a",
			JSONSchema([]byte(`{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}`))},
		{"recursion without base case", "requires itself through #/$defs/node",
			JSONSchema([]byte(`{"$ref":"#/$defs/node","$defs":{"node":{"type":"object",` +
				`"properties":{"child":{"$ref":"#/$defs/node"}},"required":["child"]}}}`))},
		{"array recursion without base case", "requires itself",
			JSONSchema([]byte(`{"$defs":{"a":{"type":"array","items":{"$ref":"#/$defs/a"},"minItems":1}},"$ref":"#/$defs/a"}`))},
		{"1 MB schema", "more than the limit", JSONSchema([]byte(objectOfProps(22_000)))},
		{"7000 properties", "grammar size", JSONSchema([]byte(objectOfProps(7000)))},
		{"unsupported keyword", `Unimplemented keys: ["not"]`,
			JSONSchema([]byte(`{"type":"object","not":{"required":["a"]}}`))},
		{"unknown format", "Unknown format: color", JSONSchema([]byte(`{"type":"string","format":"color"}`))},
		{"bad type", "strin", JSONSchema([]byte(`{"type":"strin"}`))},
		{"bad regex", "regex", JSONSchema([]byte(`{"type":"string","pattern":"(?<=a)b"}`))},
		{"bad x-guidance option", "unknown field", JSONSchema([]byte(`{"x-guidance":{"whitespace":1}}`))},
		{"Lark syntax", "", Lark(`start: "a" (`)},
		{"Lark undefined rule", "", Lark(`start: foo`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := withTimeout(t, 30*time.Second, func() error { return l.llg.Validate(tc.spec) })
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvalidSpec mentioning %q", err, tc.want)
			}
			t.Logf("%v in %v", err, time.Since(start).Round(time.Millisecond))
			if _, err2 := l.llg.NewMatcher(tc.spec); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("NewMatcher = %v, Validate = %v", err2, err)
			}
		})
	}
}

// TestBigSchemasStayBounded: large schemas under the limits compile in
// bounded time and work.
func TestBigSchemasStayBounded(t *testing.T) {
	l := shared(t, "smollm2")
	var enum strings.Builder
	enum.WriteString(`{"enum":[`)
	for i := range 20_000 {
		if i > 0 {
			enum.WriteString(",")
		}
		fmt.Fprintf(&enum, `"value-%d"`, i)
	}
	enum.WriteString(`]}`)
	for name, schema := range map[string]string{
		"1000 properties":    objectOfProps(1000),
		"20000-value enum":   enum.String(),
		"nested recursion":   `{"$ref":"#/$defs/n","$defs":{"n":{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/n"}}}}}}`,
		"counted repetition": `{"type":"string","pattern":"^((a{1,20}){1,20}){1,20}$"}`,
	} {
		start := time.Now()
		err := withTimeout(t, 60*time.Second, func() error { return l.llg.Validate(JSONSchema([]byte(schema))) })
		t.Logf("%s (%d bytes): %v in %v", name, len(schema), err, time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// withTimeout runs fn, failing the test if it has not returned by d.
func withTimeout(t *testing.T, d time.Duration, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("no answer within %v", d)
		return nil
	}
}
