package llamacpp

import "testing"

func step(token, second int32, gap float64) Step {
	return Step{Token: token, Top: []Candidate{{token, 0.5}, {second, 0.4}}, LogitGap: gap}
}

func TestCheckGreedy(t *testing.T) {
	ref := []Step{step(5, 6, 2), step(7, 8, 1e-4), step(9, 10, 3)}
	cases := []struct {
		name   string
		got    []int32
		agreed int
		ok     bool
	}{
		{"identical", []int32{5, 7, 9}, 3, true},
		{"shorter", []int32{5, 7}, 2, true},
		{"near tie taken the other way", []int32{5, 8, 1}, 1, true},
		{"clear winner missed", []int32{6, 7, 9}, 0, false},
		{"neither candidate", []int32{5, 3, 9}, 1, false},
		{"gap above the tolerance", []int32{5, 7, 10}, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			agreed, err := CheckGreedy(ref, c.got, NearTie)
			if agreed != c.agreed || (err == nil) != c.ok {
				t.Errorf("CheckGreedy = %d, %v; want %d, ok %v", agreed, err, c.agreed, c.ok)
			}
		})
	}
}
