package generate

import "time"

// Stats are a scheduler's counters for the UI and for operators.
type Stats struct {
	// Requests counts every request submitted; Failed those that ended with
	// an MLX error.
	Requests, Failed int64
	// Queued requests wait for a place; Active are prefilling or decoding.
	Queued, Active int
	// PrefillTokens were run through the model (cached ones not counted);
	// DecodeSteps is the number of batched decode steps and BatchedRows
	// the sequences they carried (BatchedRows/DecodeSteps: mean batch).
	PrefillTokens, DecodeSteps, BatchedRows int64
	// GeneratedTokens counts tokens handed to requests.
	GeneratedTokens int64
	// DraftProposed tokens came from a draft model, DraftAccepted of them
	// were what the model itself chose (the acceptance rate's terms).
	DraftProposed, DraftAccepted int64
	// Last* describe the most recently finished request: prompt tokens per
	// second of prefill, tokens per second of decode, time to first token
	// (queue wait included).
	LastPrefillTPS, LastDecodeTPS float64
	LastTTFT                      time.Duration
	Prefix                        PrefixStats
}

// record adds a finished sequence (under the scheduler's lock).
func (s *Stats) record(q *seq) {
	r := q.res
	s.GeneratedTokens += int64(len(r.Tokens))
	if q.first.IsZero() {
		return
	}
	s.LastTTFT = q.first.Sub(q.submitted)
	if d := r.PrefillTime.Seconds(); d > 0 {
		s.LastPrefillTPS = float64(r.PromptTokens-r.CachedTokens) / d
	}
	if d := r.DecodeTime.Seconds(); d > 0 && len(r.Tokens) > 1 {
		s.LastDecodeTPS = float64(len(r.Tokens)-1) / d
	}
}

// Stats returns a snapshot of the counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
