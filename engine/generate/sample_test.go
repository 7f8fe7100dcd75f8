package generate

import (
	"github.com/lmx-app/lmx/internal/mlxtest"
	"math"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/metal"
)

func TestSeedReproducible(t *testing.T) {
	f := loadFixture(t, "stories260k")
	seed := uint64(42)
	other := uint64(7)
	req := Request{Prompt: f.ints["prompt_ids"], MaxTokens: 30, Sampling: Sampling{Temperature: 1.5, Seed: &seed}}
	a := f.generate(t, req, nil).Tokens
	b := f.generate(t, req, nil).Tokens
	req.Sampling.Seed = &other
	c := f.generate(t, req, nil).Tokens
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different tokens:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 42 and 7 gave the same 30 tokens at temperature 1.5: %v", a)
	}
}

func TestSamplingFiltersMatchGreedy(t *testing.T) {
	f := loadFixture(t, "stories260k")
	want := f.ints["prompt_greedy"][:20]
	seed := uint64(1)
	tests := []struct {
		name string
		s    Sampling
	}{
		{"top_k 1", Sampling{Temperature: 1, TopK: 1, Seed: &seed}},
		{"tiny top_p", Sampling{Temperature: 1, TopP: 1e-6, Seed: &seed}},
		{"min_p 1", Sampling{Temperature: 1, MinP: 1, Seed: &seed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.generate(t, Request{Prompt: f.ints["prompt_ids"], MaxTokens: len(want), Sampling: tt.s}, nil)
			if !slices.Equal(res.Tokens, want) {
				t.Errorf("got %v, want greedy %v", res.Tokens, want)
			}
		})
	}
}

func TestLogitBiasForcesToken(t *testing.T) {
	f := loadFixture(t, "stories260k")
	seed := uint64(3)
	for _, temp := range []float64{0, 0.8} {
		res := f.generate(t, Request{Prompt: []int32{1}, MaxTokens: 8,
			Sampling: Sampling{Temperature: temp, Seed: &seed, LogitBias: map[int]float64{77: 100}}}, nil)
		if !slices.Equal(res.Tokens, slices.Repeat([]int32{77}, 8)) {
			t.Errorf("temperature %g: %v, want token 77 eight times", temp, res.Tokens)
		}
	}
}

func TestLogprobsMatchReference(t *testing.T) {
	f := loadFixture(t, "stories260k")
	ids, logits := f.ints["prompt_ids"], f.logit["prompt_logits"]
	last := logits[len(logits)-f.vocab:]
	lse := logSumExp(last)
	res := f.generate(t, Request{Prompt: ids, MaxTokens: 1, Logprobs: true, TopLogprobs: 3}, func(tok Token) bool {
		if want := float64(last[tok.ID]) - lse; math.Abs(tok.Logprob-want) > 1e-4 {
			t.Errorf("logprob %v, want %v", tok.Logprob, want)
		}
		if len(tok.Top) != 3 || tok.Top[0].ID != tok.ID || tok.Top[0].Logprob < tok.Top[1].Logprob || tok.Top[1].Logprob < tok.Top[2].Logprob {
			t.Errorf("top logprobs %+v for token %d", tok.Top, tok.ID)
		}
		for _, alt := range tok.Top {
			if want := float64(last[alt.ID]) - lse; math.Abs(alt.Logprob-want) > 1e-4 {
				t.Errorf("top logprob of %d: %v, want %v", alt.ID, alt.Logprob, want)
			}
		}
		return false
	})
	if len(res.Tokens) != 1 {
		t.Errorf("%d tokens, want 1", len(res.Tokens))
	}
}

// TestPenalties applies each penalty to known logits and checks every value.
func TestPenalties(t *testing.T) {
	mlxtest.Require(t)
	logits := []float32{2, -2, 1, 0.5, -1}
	tests := []struct {
		name    string
		s       Sampling
		prompt  []int32
		observe []int32
		want    []float32
	}{
		{"repetition divides positive, multiplies negative", Sampling{RepetitionPenalty: 2}, []int32{0, 1}, nil, []float32{1, -4, 1, 0.5, -1}},
		{"repetition window", Sampling{RepetitionPenalty: 2, RepetitionContext: 1}, []int32{0, 1}, []int32{2}, []float32{2, -2, 0.5, 0.5, -1}},
		{"presence", Sampling{PresencePenalty: 0.5}, []int32{3}, []int32{0, 0, 4}, []float32{1.5, -2, 1, 0.5, -1.5}},
		{"frequency", Sampling{FrequencyPenalty: 0.5}, nil, []int32{0, 0, 4}, []float32{1, -2, 1, 0.5, -1.5}},
		{"logit bias", Sampling{LogitBias: map[int]float64{1: 3, 4: -1}}, nil, nil, []float32{2, 1, 1, 0.5, -2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []float32
			mlxtest.Do(t, func() error {
				s := newSampler(tt.s, len(logits), tt.prompt)
				defer s.free()
				for _, id := range tt.observe {
					s.observe(metal.FromInt32([]int32{id}, 1))
				}
				var err error
				got, err = s.process(metal.FromFloat32(logits, 1, len(logits))).Float32s()
				return err
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPresencePenaltyAvoidsRepeats(t *testing.T) {
	f := loadFixture(t, "stories260k")
	plain := f.generate(t, Request{Prompt: []int32{1}, MaxTokens: 40}, nil).Tokens
	penal := f.generate(t, Request{Prompt: []int32{1}, MaxTokens: 40, Sampling: Sampling{PresencePenalty: 100}}, nil).Tokens
	if distinct(plain) == len(plain) {
		t.Fatalf("greedy text has no repeats to remove: %v", plain)
	}
	if distinct(penal) != len(penal) {
		t.Errorf("presence penalty 100 still repeats tokens: %v", penal)
	}
}

func TestSamplingValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Sampling
		ok   bool
	}{
		{"greedy", Sampling{}, true},
		{"negative temperature", Sampling{Temperature: -1}, false},
		{"top_p above 1", Sampling{TopP: 1.5}, false},
		{"negative top_k", Sampling{TopK: -1}, false},
		{"bias outside vocab", Sampling{LogitBias: map[int]float64{600: 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Validate(512); (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func distinct(xs []int32) int {
	seen := map[int32]bool{}
	for _, x := range xs {
		seen[x] = true
	}
	return len(seen)
}

func logSumExp(xs []float32) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, float64(x))
	}
	var s float64
	for _, x := range xs {
		s += math.Exp(float64(x) - m)
	}
	return m + math.Log(s)
}
