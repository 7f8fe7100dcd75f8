package library

import "testing"

func TestFitVerdicts(t *testing.T) {
	const gib = int64(1) << 30
	tests := []struct {
		name    string
		weights int64
		perTok  int64
		ctx     int
		budget  int64
		want    Verdict
	}{
		{"small model, big machine", 2 * gib, 1 << 17, 4096, 16 * gib, Fits},
		{"weights alone tight", 13 * gib, 0, 0, 16 * gib, Tight},
		{"context pushes it over", 12 * gib, 1 << 20, 8192, 16 * gib, WontFit},
		{"exactly the budget", 8 * gib, 0, 0, 8 * gib, Tight},
		{"no budget", 1, 0, 0, 0, WontFit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := FitKV(tt.weights, tt.perTok*int64(tt.ctx), tt.budget)
			if r.Verdict != tt.want {
				t.Errorf("verdict %s, want %s (%+v)", r.Verdict, tt.want, r)
			}
			if r.NeedBytes != tt.weights+tt.perTok*int64(tt.ctx) || r.BudgetBytes != tt.budget {
				t.Errorf("numbers %+v", r)
			}
		})
	}
}

func TestMemoryBudget(t *testing.T) {
	linux := Memory{TotalBytes: 24576000 << 10, AvailableBytes: 20480000 << 10}
	if linux.Budget() != 20480000<<10 {
		t.Errorf("linux budget %d, want the available memory", linux.Budget())
	}
	mac := Memory{TotalBytes: 64 << 30, WiredLimitBytes: 48 << 30}
	if mac.Budget() != 48<<30 {
		t.Errorf("macOS budget %d, want the wired limit", mac.Budget())
	}
	if total := (Memory{TotalBytes: 8 << 30}); total.Budget() != 8<<30 {
		t.Errorf("budget %d, want the total when nothing else is known", total.Budget())
	}
}
