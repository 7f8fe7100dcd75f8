package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/grammar"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// stepSchema walks keys, bounded strings, integers and arrays.
const stepSchema = `{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":` +
	`{"name":{"type":"string","maxLength":16},"n":{"type":"integer"},"tags":{"type":"array","items":{"enum":["a","bb","ccc"]}}},` +
	`"required":["name","n","tags"]}}},"required":["items"]}`

// stepTokens is the answer length of one benchmark round.
const stepTokens = 64

// BenchmarkStructuredStep: the time structured output adds per decode step
// through the scheduler, on tiny random-weight models (so the model's own
// step is short and the mask's cost shows) with the demo model's
// vocabulary (SmolLM2, 49,152) and Qwen3's (151,936): one sequence and 8
// batched, unconstrained and constrained by a JSON schema. Reported as
// ms/step (wall time of a round over its steps); EOS is ignored so every
// round has stepTokens steps (past the value's end the mask allows EOS).
func BenchmarkStructuredStep(b *testing.B) {
	requireGrammar(b)
	for _, v := range []struct {
		name string
		dir  func(b *testing.B) string
	}{
		{"vocab49k", func(b *testing.B) string {
			return testmodel.Tiny(b, b.TempDir(), "smollm2-tiny", testmodel.Demo(b), 49152, []int{2})
		}},
		{"vocab152k", func(b *testing.B) string { return testmodel.Qwen3Tiny(b, b.TempDir(), "qwen3-tiny") }},
	} {
		ctx := context.Background()
		m, err := Load(ctx, v.dir(b), Options{Serving: generate.SchedulerOptions{MaxSequences: 8}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.grammarTokenizer(); err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1, 8} {
			for _, constrained := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/batch%d/constrained=%v", v.name, n, constrained), func(b *testing.B) {
					var spec *grammar.Spec
					if constrained {
						s := grammar.JSONSchema([]byte(stepSchema))
						spec = &s
					}
					var steps int
					var wall time.Duration
					for range b.N {
						t0 := time.Now()
						steps += benchRound(b, m, n, spec)
						wall += time.Since(t0)
					}
					b.ReportMetric(float64(wall.Microseconds())/1000/float64(steps), "ms/step")
				})
			}
		}
		_ = m.Close(ctx)
	}
}

// benchRound runs n requests at once and returns the decode steps taken.
func benchRound(b *testing.B, m *Model, n int, spec *grammar.Spec) int {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			seed := uint64(i)
			s, err := m.Complete(context.Background(), CompletionRequest{Text: "Once upon a time", AddSpecial: true,
				Params: Params{MaxTokens: stepTokens, IgnoreEOS: true, Format: spec,
					Sampling: generate.Sampling{Temperature: 1, Seed: &seed}}})
			if err != nil {
				b.Error(err)
				return
			}
			if r := Collect(s); r.Err != nil || r.Usage.CompletionTokens != stepTokens {
				b.Errorf("%d tokens, %v", r.Usage.CompletionTokens, r.Err)
			}
		})
	}
	wg.Wait()
	return stepTokens
}
