package llamacpp

import "fmt"

// NearTie is the logit gap under which two candidates may trade places
// between implementations: the order of float32 accumulation alone moves
// logits by about 1e-4.
const NearTie = 1e-3

// CheckGreedy compares tokens another implementation decoded greedily from
// the same prompt with llama.cpp's steps. They must agree token for token
// over the shorter of the two, except at a step where llama.cpp's two best
// candidates are within tie of each other: there the other implementation
// may take the second one, and nothing after it is compared (each then
// continues a different text). It returns how many steps agreed.
func CheckGreedy(ref []Step, got []int32, tie float64) (int, error) {
	n := min(len(ref), len(got))
	for i := range n {
		s := ref[i]
		if got[i] == s.Token {
			continue
		}
		if len(s.Top) == 2 && got[i] == s.Top[1].ID && s.LogitGap < tie {
			return i, nil
		}
		return i, fmt.Errorf("step %d: token %d, llama.cpp chose %d (candidates %+v, logit gap %.3g)",
			i, got[i], s.Token, s.Top, s.LogitGap)
	}
	return n, nil
}
