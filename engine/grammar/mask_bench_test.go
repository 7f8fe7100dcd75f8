package grammar

import (
	"strconv"
	"testing"
	"time"
)

// benchSchema is a function-call-like schema; benchInstance a value of it
// whose tokens the benchmark walks, so masks are taken at every position
// of a generation (keys, strings, numbers, arrays) rather than one.
const (
	benchSchema = `{"type":"object","properties":{"name":{"type":"string"},"location":{"type":"object",` +
		`"properties":{"city":{"type":"string"},"lat":{"type":"number"},"lon":{"type":"number"}},"required":["city"]},` +
		`"tags":{"type":"array","items":{"type":"string"}},"priority":{"enum":["low","normal","high"]},` +
		`"count":{"type":"integer","minimum":0}},"required":["name","location","priority"],"additionalProperties":false}`
	benchInstance = `{"name":"Weather report for the coming week","location":{"city":"San Francisco","lat":37.7749,"lon":-122.4194},` +
		`"tags":["forecast","rain","wind speed"],"priority":"normal","count":42}`
)

// walker replays benchInstance's tokens through a matcher, rolling back to
// the start at the end.
type walker struct {
	m   *Matcher
	ids []int32
	pos int
}

func (w *walker) step(b *testing.B) {
	if w.pos == len(w.ids) {
		if err := w.m.Rollback(w.pos); err != nil {
			b.Fatal(err)
		}
		w.pos = 0
	}
	if err := w.m.Consume(w.ids[w.pos]); err != nil {
		b.Fatal(err)
	}
	w.pos++
}

// BenchmarkMask: time per mask for a ~49k (SmolLM2) and a 152k (Qwen3)
// vocabulary, one matcher (FillMask) and a batch of 8 (FillMasks), reported
// as µs/mask (the mask calls alone) and µs/step (mask + Consume, per
// sequence).
func BenchmarkMask(b *testing.B) {
	for _, c := range vocabCases[:2] {
		l := c.load(b)
		for _, n := range []int{1, 8} {
			b.Run(c.name+"/batch"+strconv.Itoa(n), func(b *testing.B) {
				ws, ms, dst := make([]*walker, n), make([]*Matcher, n), make([][]uint32, n)
				ids := l.encode(b, benchInstance)
				for i := range n {
					m, err := l.llg.NewMatcher(JSONSchema([]byte(benchSchema)))
					if err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					ws[i], ms[i], dst[i] = &walker{m: m, ids: ids}, m, make([]uint32, MaskWords(l.vocab))
					for range i * len(ids) / n { // spread the batch over the value
						ws[i].step(b)
					}
				}
				var masks time.Duration
				b.ResetTimer()
				for range b.N {
					t0 := time.Now()
					if err := FillMasks(ms, dst); err != nil {
						b.Fatal(err)
					}
					masks += time.Since(t0)
					for _, w := range ws {
						w.step(b)
					}
				}
				b.ReportMetric(float64(masks.Microseconds())/float64(b.N*n), "µs/mask")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/step")
			})
		}
		l.llg.Close()
	}
}
