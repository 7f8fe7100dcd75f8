package serve

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what lmx bench serve prints (as JSON with --json): every
// figure's runs, spreads and, with two endpoints, A's median over B's.
type Report struct {
	Date      string      `json:"date"`
	Machine   string      `json:"machine"`
	Options   Options     `json:"options"`
	Endpoints []*Endpoint `json:"endpoints"`
	Figures   []*Figure   `json:"figures"`
	// Notes are remarks gathered during the runs (an early stop, a prompt
	// length a server counted differently).
	Notes []string `json:"notes"`
}

// Figure is one measured quantity. Runs[i] and Spreads[i] belong to
// endpoint i; Versus is set for two endpoints except on token counts.
type Figure struct {
	Name    string      `json:"name"`
	Unit    string      `json:"unit"`
	Runs    [][]float64 `json:"runs"`
	Spreads []Spread    `json:"spreads"`
	Versus  *Versus     `json:"a_over_b,omitempty"`
}

// add appends one run's points of every endpoint, creating figures in the
// order they first appear.
func (r *Report) add(points [][]point) {
	for i, ps := range points {
		for _, p := range ps {
			f := r.figure(p)
			f.Runs[i] = append(f.Runs[i], p.value)
		}
	}
}

// figure returns the figure of p, created on first use.
func (r *Report) figure(p point) *Figure {
	for _, f := range r.Figures {
		if f.Name == p.name {
			return f
		}
	}
	f := &Figure{Name: p.name, Unit: p.unit, Runs: make([][]float64, len(r.Endpoints))}
	r.Figures = append(r.Figures, f)
	return f
}

// summarize computes spreads and ratios; a figure with a run that is not
// finite, or with run counts that differ, fails the report.
func (r *Report) summarize() error {
	r.Date, r.Machine = time.Now().UTC().Format(time.RFC3339), Machine()
	for _, f := range r.Figures {
		f.Spreads = make([]Spread, len(f.Runs))
		for i, runs := range f.Runs {
			var err error
			if f.Spreads[i], err = Summarize(runs); err != nil {
				return fmt.Errorf("%s of %s: %w", f.Name, r.Endpoints[i].Name, err)
			}
		}
		if len(f.Runs) != 2 || f.Unit == "tokens" {
			continue
		}
		v, err := Compare(f.Runs[0], f.Runs[1])
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		f.Versus = &v
	}
	return nil
}

// Print writes the report as a table: median (min–max) per engine and the
// ratio A/B, "level" when the ranges overlap.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%s, %s\n", r.Date, r.Machine)
	for i, e := range r.Endpoints {
		api := "/v1/completions"
		if e.Chat {
			api = "/v1/chat/completions"
		}
		fmt.Fprintf(w, "%c: %s at %s%s (model %q)\n", 'A'+i, e.Name, e.URL, api, e.Model)
	}
	o := r.Options
	fmt.Fprintf(w, "%d runs of each after %d warm-up, engines alternating in every scenario; median (min–max)\n", o.Runs, o.Warmup)
	fmt.Fprintf(w, "single stream: %d prompt + %d generated tokens; concurrent streams: %d + %d each; prefix test: %d-token suffix, 1 token generated\n\n",
		o.PromptTokens, o.GenTokens, o.StreamPromptTokens, o.StreamGenTokens, o.SuffixTokens)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "figure\tunit"
	for _, e := range r.Endpoints {
		header += "\t" + e.Name
	}
	if len(r.Endpoints) == 2 {
		header += fmt.Sprintf("\t%s / %s", r.Endpoints[0].Name, r.Endpoints[1].Name)
	}
	fmt.Fprintln(tw, header)
	for _, f := range r.Figures {
		row := f.Name + "\t" + f.Unit
		for _, s := range f.Spreads {
			row += "\t" + formatSpread(s)
		}
		if f.Versus != nil {
			row += "\t" + formatVersus(*f.Versus)
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	if len(r.Endpoints) == 2 {
		fmt.Fprintln(w, "level: the two engines' ranges overlap, so the runs cannot tell them apart")
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// formatSpread writes "median (min–max)" with precision for the magnitude.
func formatSpread(s Spread) string {
	return fmt.Sprintf("%s (%s–%s)", num(s.Median), num(s.Min), num(s.Max))
}

// formatVersus writes the ratio, marked level when the ranges overlap.
func formatVersus(v Versus) string {
	if v.Level {
		return fmt.Sprintf("%.2fx level", v.Ratio)
	}
	return fmt.Sprintf("%.2fx", v.Ratio)
}

// num prints 3 significant digits, at least the units.
func num(x float64) string {
	if x >= 100 || x <= -100 {
		return fmt.Sprintf("%.0f", x)
	}
	if x >= 10 || x <= -10 {
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// Machine describes the client machine: OS, architecture, CPU model and
// count (the servers under test run on it in the usual local setup).
func Machine() string {
	cpu := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s/%s, %s, %d CPUs", runtime.GOOS, runtime.GOARCH, cpu, runtime.NumCPU())
}
