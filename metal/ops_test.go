package metal

import (
	"math"
	"sort"
	"testing"
)

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// matmulRef multiplies row-major a [m,k] by b [k,n].
func matmulRef(a, b []float32, m, k, n int) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			out[i*n+j] = s
		}
	}
	return out
}

func TestMatmulAndAddmm(t *testing.T) {
	a, b, c := lcg(3*5, 1), lcg(5*4, 2), lcg(3*4, 3)
	ref := matmulRef(a, b, 3, 5, 4)
	do(t, func() error {
		A, B, C := FromFloat32(a, 3, 5), FromFloat32(b, 5, 4), FromFloat32(c, 3, 4)
		assertClose(t, "matmul", floats(t, Matmul(A, B)), ref, matTol())
		want := make([]float64, len(ref))
		for i := range ref {
			want[i] = 0.5*float64(c[i]) + 2*ref[i]
		}
		assertClose(t, "addmm", floats(t, Addmm(C, A, B, 2, 0.5)), want, matTol())
		return nil
	})
}

func TestElementwise(t *testing.T) {
	x := []float32{0.25, 0.5, 1, 2, 3.5}
	cases := []struct {
		name string
		op   func(*Array) *Array
		ref  func(float64) float64
	}{
		{"exp", Exp, math.Exp}, {"log", Log, math.Log}, {"sqrt", Sqrt, math.Sqrt},
		{"rsqrt", Rsqrt, func(v float64) float64 { return 1 / math.Sqrt(v) }},
		{"square", Square, func(v float64) float64 { return v * v }},
		{"negative", Negative, func(v float64) float64 { return -v }},
		{"tanh", Tanh, math.Tanh}, {"sin", Sin, math.Sin}, {"cos", Cos, math.Cos},
		{"erf", Erf, math.Erf}, {"log1p", Log1p, math.Log1p}, {"floor", Floor, math.Floor},
		{"sigmoid", Sigmoid, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{"reciprocal", Reciprocal, func(v float64) float64 { return 1 / v }},
		{"add 1.5", func(a *Array) *Array { return AddScalar(a, 1.5) }, func(v float64) float64 { return v + 1.5 }},
		{"mul -2", func(a *Array) *Array { return MulScalar(a, -2) }, func(v float64) float64 { return -2 * v }},
		{"power", func(a *Array) *Array { return Power(a, a) }, func(v float64) float64 { return math.Pow(v, v) }},
		{"where x>1", func(a *Array) *Array { return Where(Greater(a, Scalar(1, Float32)), a, Negative(a)) },
			func(v float64) float64 { return map[bool]float64{true: v, false: -v}[v > 1] }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := make([]float64, len(x))
			for i, v := range x {
				want[i] = c.ref(float64(v))
			}
			do(t, func() error {
				assertClose(t, c.name, floats(t, c.op(FromFloat32(x, len(x)))), want, 1e-5)
				return nil
			})
		})
	}
}

func TestReductionsAndSoftmax(t *testing.T) {
	x := lcg(2*6, 4)
	do(t, func() error {
		a := FromFloat32(x, 2, 6)
		var sums, maxs, lse, soft []float64
		for r := range 2 {
			row := f64s(x[r*6 : r*6+6])
			s, m := 0.0, math.Inf(-1)
			for _, v := range row {
				s, m = s+v, math.Max(m, v)
			}
			e := 0.0
			for _, v := range row {
				e += math.Exp(v - m)
			}
			sums, maxs, lse = append(sums, s), append(maxs, m), append(lse, m+math.Log(e))
			for _, v := range row {
				soft = append(soft, math.Exp(v-m)/e)
			}
		}
		assertClose(t, "sum", floats(t, Sum(a, []int{1}, false)), sums, 1e-5)
		assertClose(t, "mean", floats(t, Mean(a, []int{-1}, false)), []float64{sums[0] / 6, sums[1] / 6}, 1e-5)
		assertClose(t, "max", floats(t, Max(a, []int{1}, true)), maxs, 0)
		assertClose(t, "logsumexp", floats(t, Logsumexp(a, []int{1}, false)), lse, 1e-5)
		assertClose(t, "softmax", floats(t, Softmax(a, -1)), soft, 1e-5)
		assertClose(t, "sum all", floats(t, Sum(a, nil, false)), []float64{sums[0] + sums[1]}, 1e-5)
		assertClose(t, "cumsum", floats(t, Cumsum(FromFloat32([]float32{1, 2, 3}, 3), 0, false, true)), []float64{1, 3, 6}, 0)
		assertClose(t, "cumsum exclusive reverse", floats(t, Cumsum(FromFloat32([]float32{1, 2, 3}, 3), 0, true, false)),
			[]float64{5, 3, 0}, 0)
		return nil
	})
}

func TestArgmaxTopkArgpartition(t *testing.T) {
	x := lcg(3*10, 5)
	do(t, func() error {
		a := FromFloat32(x, 3, 10)
		am, err := Argmax(a, -1, false).Int32s()
		if err != nil {
			return err
		}
		top := floats(t, Topk(a, 3, -1))
		part, err := Argpartition(a, 2, -1).Int32s()
		if err != nil {
			return err
		}
		for r := range 3 {
			row := x[r*10 : r*10+10]
			best := 0
			for i, v := range row {
				if v > row[best] {
					best = i
				}
			}
			if int(am[r]) != best {
				t.Errorf("row %d argmax = %d, want %d", r, am[r], best)
			}
			sorted := append([]float32(nil), row...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] > sorted[j] })
			got := append([]float32(nil), top[r*3:r*3+3]...)
			sort.Slice(got, func(i, j int) bool { return got[i] > got[j] })
			assertClose(t, "topk", got, f64s(sorted[:3]), 0)
			checkPartition(t, row, part[r*10:r*10+10], 2)
		}
		return nil
	})
}

// checkPartition asserts idx is a permutation with idx[kth] the kth smallest
// and no larger element before it nor smaller after it.
func checkPartition(t *testing.T, row []float32, idx []int32, kth int) {
	t.Helper()
	sorted := append([]float32(nil), row...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	pivot := row[idx[kth]]
	if pivot != sorted[kth] {
		t.Errorf("argpartition pivot %v, want %v", pivot, sorted[kth])
		return
	}
	seen := map[int32]bool{}
	for i, j := range idx {
		seen[j] = true
		if (i < kth && row[j] > pivot) || (i > kth && row[j] < pivot) {
			t.Errorf("argpartition: position %d holds %v around pivot %v", i, row[j], pivot)
			return
		}
	}
	if len(seen) != len(row) {
		t.Error("argpartition is not a permutation")
	}
}

func TestTakeAndJoin(t *testing.T) {
	x := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} // [3,4]
	do(t, func() error {
		a := FromFloat32(x, 3, 4)
		assertClose(t, "take rows", floats(t, Take(a, FromInt32([]int32{2, 0}, 2), 0)),
			[]float64{8, 9, 10, 11, 0, 1, 2, 3}, 0)
		assertClose(t, "take_along_axis", floats(t, TakeAlongAxis(a, FromInt32([]int32{3, 0, 1}, 3, 1), 1)),
			[]float64{3, 4, 9}, 0)
		put := PutAlongAxis(a, FromInt32([]int32{1, 2, 3}, 3, 1), Full([]int{3, 1}, -1, Float32), 1)
		assertClose(t, "put_along_axis", floats(t, put), []float64{0, -1, 2, 3, 4, 5, -1, 7, 8, 9, 10, -1}, 0)
		cat := Concatenate([]*Array{a, Zeros([]int{3, 1}, Float32)}, 1)
		assertClose(t, "concatenate", floats(t, cat), []float64{0, 1, 2, 3, 0, 4, 5, 6, 7, 0, 8, 9, 10, 11, 0}, 0)
		if s := Stack([]*Array{a, a}, 0).Shape(); len(s) != 3 || s[0] != 2 {
			t.Errorf("stack shape %v", s)
		}
		parts := Split(a, []int{1, 3}, 1)
		assertClose(t, "split middle", floats(t, parts[1]), []float64{1, 2, 5, 6, 9, 10}, 0)
		halves := SplitEqual(a, 2, 1)
		assertClose(t, "split equal", floats(t, halves[1]), []float64{2, 3, 6, 7, 10, 11}, 0)
		return nil
	})
}

func TestSliceAndShape(t *testing.T) {
	x := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} // [3,4]
	do(t, func() error {
		a := FromFloat32(x, 3, 4)
		assertClose(t, "slice", floats(t, Slice(a, []int{1, 1}, []int{3, 3})), []float64{5, 6, 9, 10}, 0)
		assertClose(t, "strided", floats(t, SliceStrided(a, []int{0, 0}, []int{3, 4}, []int{2, 3})),
			[]float64{0, 3, 8, 11}, 0)
		up := SliceUpdate(a, Full([]int{1, 2}, 100, Float32), []int{2, 2}, []int{3, 4})
		assertClose(t, "slice_update", floats(t, up), []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 100}, 0)
		assertClose(t, "transpose", floats(t, Transpose(a)), []float64{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, 0)
		r := Reshape(a, 2, -1, 2)
		if got := r.Shape(); len(got) != 3 || got[1] != 3 || r.Dim(-1) != 2 || r.Ndim() != 3 {
			t.Errorf("reshape shape %v", got)
		}
		assertClose(t, "tril", floats(t, Tril(Ones([]int{2, 2}, Float32), 0)), []float64{1, 0, 1, 1}, 0)
		assertClose(t, "pad", floats(t, Pad(FromFloat32([]float32{1, 2}, 2), []int{1}, []int{2}, 9)),
			[]float64{9, 1, 2, 9, 9}, 0)
		e := ExpandDims(Squeeze(Reshape(a, 1, 3, 4)), 0)
		if e.Ndim() != 3 || e.Dim(0) != 1 || Flatten(a, 0, -1).Size() != 12 || Swapaxes(a, 0, 1).Dim(0) != 4 {
			t.Errorf("squeeze/expand/flatten/swapaxes shapes wrong: %v", e.Shape())
		}
		h := Astype(a, Float16)
		if h.Dtype() != Float16 || h.Nbytes() != 24 {
			t.Errorf("astype float16: %v, %d bytes", h.Dtype(), h.Nbytes())
		}
		assertClose(t, "float16 read back", floats(t, h), f64s(x), 0)
		return nil
	})
}
