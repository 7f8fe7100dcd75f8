package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/grammar"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// requireGrammar skips (or fails under LMX_REQUIRE_MLX=1) without MLX or
// llguidance.
func requireGrammar(t testing.TB) {
	t.Helper()
	mlxtest.Require(t)
	if err := grammar.Available(); err != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_MLX", "llguidance absent (run build/llguidance.sh): "+err.Error())
	}
}

// benchSchema is one schema of fixtures/jsonschema/maskbench.jsonl, with a
// validator compiled from it (independent of llguidance).
type benchSchema struct {
	file   string
	schema json.RawMessage
	valid  *jsonschema.Schema
}

// maskbenchSchemas returns the first n schemas of the fixture, in file
// order, that llguidance compiles (with tok) and the validator compiles.
func maskbenchSchemas(t *testing.T, m *Model, n int) []benchSchema {
	t.Helper()
	type record struct {
		File   string          `json:"file"`
		Schema json.RawMessage `json:"schema"`
	}
	records := testutil.ReadJSONL[record](t, filepath.Join(testutil.Fixtures(t), "jsonschema", "maskbench.jsonl"))
	tok, err := m.grammarTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	var out []benchSchema
	refused := 0
	for _, r := range records {
		if len(out) == n { // n < 0: all
			break
		}
		if tok.Validate(grammar.JSONSchema(r.Schema)) != nil {
			refused++
			continue
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Schema))
		if err == nil {
			err = c.AddResource("schema.json", doc)
		}
		var s *jsonschema.Schema
		if err == nil {
			s, err = c.Compile("schema.json")
		}
		if err != nil {
			t.Logf("%s: the validator cannot compile it (%v); skipped", r.File, err)
			continue
		}
		out = append(out, benchSchema{file: r.File, schema: r.Schema, valid: s})
	}
	t.Logf("%d schemas taken, %d refused by llguidance before them", len(out), refused)
	return out
}

// genOutcome is one constrained generation's result.
type genOutcome struct {
	schema benchSchema
	res    Result
}

// checkOutcomes requires every output that finished with stop to be JSON
// valid against its schema, and at least 90% to finish with stop.
func checkOutcomes(t *testing.T, name string, outs []genOutcome, minStop float64) {
	t.Helper()
	stops, tokens := 0, 0
	for _, o := range outs {
		tokens += o.res.Usage.CompletionTokens
		if o.res.Err != nil {
			t.Errorf("%s %s: %v", name, o.schema.file, o.res.Err)
			continue
		}
		if o.res.FinishReason != FinishStop {
			t.Logf("%s %s: finish %s after %d tokens: %.150q", name, o.schema.file, o.res.FinishReason, o.res.Usage.CompletionTokens, o.res.Text)
			continue
		}
		stops++
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(o.res.Text))
		if err == nil {
			err = o.schema.valid.Validate(inst)
		}
		if err != nil {
			t.Errorf("%s %s: output %q is not valid: %v", name, o.schema.file, o.res.Text, err)
		}
	}
	t.Logf("%s: %d schemas, %d finished with stop (%.0f%%), all of them valid unless reported; %d tokens",
		name, len(outs), stops, 100*float64(stops)/float64(len(outs)), tokens)
	if float64(stops) < minStop*float64(len(outs)) {
		t.Errorf("%s: %d of %d finished with stop; want at least %.0f%%", name, stops, len(outs), 100*minStop)
	}
}

// runConcurrently submits every request at once, so the scheduler batches
// constrained sequences together.
func runConcurrently(t *testing.T, schemas []benchSchema, start func(i int, s benchSchema) (*Stream, error)) []genOutcome {
	t.Helper()
	outs := make([]genOutcome, len(schemas))
	var wg sync.WaitGroup
	for i, s := range schemas {
		wg.Go(func() {
			outs[i].schema = s
			st, err := start(i, s)
			if err != nil {
				outs[i].res.Err = err
				return
			}
			outs[i].res = Collect(st)
		})
	}
	wg.Wait()
	return outs
}

// TestStructuredMaskbench: 100 JSONSchemaBench schemas, sampled at
// temperature 1 with a seed each on stories260k (a real trained model with
// its 512-token SentencePiece tokenizer, byte fallback), all submitted at
// once so the scheduler batches the constrained sequences: every output
// that stops is valid against its schema. The model writes stories into
// every string and rarely closes one, so most run to the token limit: the
// stop rate is logged and held to the level it reaches (about 40%); the
// demo model below, which knows JSON, is held to 90%.
func TestStructuredMaskbench(t *testing.T) {
	requireGrammar(t)
	ctx := context.Background()
	m, err := Load(ctx, filepath.Join(testutil.Fixtures(t), "models", "stories260k"), Options{Serving: generate.SchedulerOptions{MaxSequences: 32}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(ctx) })
	schemas := maskbenchSchemas(t, m, 100)
	t0 := time.Now()
	outs := runConcurrently(t, schemas, func(i int, s benchSchema) (*Stream, error) {
		seed := uint64(i)
		spec := grammar.JSONSchema(s.schema)
		return m.Complete(ctx, CompletionRequest{Text: storiesPrompt, AddSpecial: true,
			Params: Params{MaxTokens: 512, Sampling: generate.Sampling{Temperature: 1, Seed: &seed}, Format: &spec}})
	})
	t.Logf("stories260k: %v; scheduler %+v", time.Since(t0), m.Stats())
	checkOutcomes(t, "stories260k", outs, 0.3)
	if st := m.Stats(); st.BatchedRows <= st.DecodeSteps {
		t.Errorf("constrained requests were not batched: %+v", st)
	}
}

// TestStructuredMaskbenchDemo: the demo chat model, greedy, through its
// chat template, on the first LMX_DEMO_SCHEMAS schemas that compile: every
// output that stops is valid, and 90% stop. Opt-in: the quantized 135M
// model makes about one token per second on a busy 2-core CPU, batched or
// not, and greedy it loops on permissive schemas (repeated keys of an open
// object, endless digits) until the token limit: 4 BFCL schemas took 11
// minutes and none stopped; the 4 shortest schemas, 2 stopped (valid).
func TestStructuredMaskbenchDemo(t *testing.T) {
	requireGrammar(t)
	n := 0
	if v := os.Getenv("LMX_DEMO_SCHEMAS"); v != "" {
		fmt.Sscan(v, &n)
	}
	if n <= 0 {
		t.Skip("set LMX_DEMO_SCHEMAS=n to run n schemas on the demo model (minutes each on a 2-core CPU)")
	}
	dir := testmodel.Demo(t)
	ctx := context.Background()
	m, err := Load(ctx, dir, Options{Serving: generate.SchedulerOptions{MaxSequences: 16}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(ctx) })
	schemas := maskbenchSchemas(t, m, n)
	t0 := time.Now()
	outs := runConcurrently(t, schemas, func(i int, s benchSchema) (*Stream, error) {
		spec := grammar.JSONSchema(s.schema)
		msgs := []chat.Message{{Role: "user", Content: "Reply with a JSON value for this schema: " + string(s.schema)}}
		return m.Chat(ctx, ChatRequest{Messages: msgs, Params: Params{MaxTokens: 512, Format: &spec}})
	})
	t.Logf("demo: %v; scheduler %+v", time.Since(t0), m.Stats())
	checkOutcomes(t, "demo", outs, 0.9)
}

// TestStructuredBadSpecs: specs llguidance cannot use are refused before
// generating, as ErrInvalidRequest naming the reason, and the model keeps
// serving.
func TestStructuredBadSpecs(t *testing.T) {
	requireGrammar(t)
	ctx := context.Background()
	m, err := Load(ctx, filepath.Join(testutil.Fixtures(t), "models", "stories260k"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(ctx) })
	big := `{"type":"object","description":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, c := range []struct{ name, schema, reason string }{
		{"not JSON", `{"type": "object"`, "not JSON"},
		{"recursive without base case", `{"type":"object","properties":{"next":{"$ref":"#"}},"required":["next"]}`, "no finite value"},
		{"1 MB", big, "more than the limit"},
		{"unsupported keyword", `{"type":"object","not":{"required":["a"]}}`, `Unimplemented keys: ["not"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := grammar.JSONSchema([]byte(c.schema))
			_, err := m.Complete(ctx, CompletionRequest{Text: "x", Params: Params{MaxTokens: 4, Format: &spec}})
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("error %v; want ErrInvalidRequest naming %q", err, c.reason)
			}
			t.Logf("%.200s", err)
		})
	}
	spec := grammar.JSONObject()
	s, err := m.Complete(ctx, CompletionRequest{Text: "x", Params: Params{MaxTokens: 64, Format: &spec}})
	if err != nil {
		t.Fatal(err)
	}
	if r := Collect(s); r.Err != nil || (r.FinishReason == FinishStop && !json.Valid([]byte(r.Text))) {
		t.Fatalf("after the bad specs: %q %s %v", r.Text, r.FinishReason, r.Err)
	}
}

// TestStructuredLength: max_tokens reached inside the JSON finishes with
// length, the text a prefix of a value.
func TestStructuredLength(t *testing.T) {
	requireGrammar(t)
	ctx := context.Background()
	m, err := Load(ctx, filepath.Join(testutil.Fixtures(t), "models", "stories260k"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(ctx) })
	spec := grammar.JSONSchema([]byte(`{"type":"object","properties":{"story":{"type":"string","minLength":40}},"required":["story"]}`))
	s, err := m.Complete(ctx, CompletionRequest{Text: "Once", AddSpecial: true, Params: Params{MaxTokens: 16, Format: &spec}})
	if err != nil {
		t.Fatal(err)
	}
	r := Collect(s)
	if r.Err != nil || r.FinishReason != FinishLength || !strings.HasPrefix(r.Text, `{"story":"`) || json.Valid([]byte(r.Text)) {
		t.Fatalf("%q finish %s (%v); want a cut object and length", r.Text, r.FinishReason, r.Err)
	}
}

// storiesPrompt puts stories260k in dialogue, where TinyStories closes some
// of its quotes.
const storiesPrompt = `Tom said, "Hi!" Lily said, "Let's play." Mom said, "Yes." Tom said, `
