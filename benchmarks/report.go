package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// The report framework: what a row's baseline is, its two-sided target,
// medians of alternating samples, and the table with its verdict.

// goal is a row's acceptance range for its ratio, lo <= ratio <= hi (lo
// excluded when loOpen): two-sided wherever a stalled run, whose ratio
// falls to 0, would otherwise meet a bound. Rows that set it get their
// target text and ok from it (see settle).
type goal struct {
	lo, hi float64
	loOpen bool
	set    bool
}

// atLeast is the range [lo, ∞): a lower bound alone suffices where a
// stalled run has ratio 0 (a rate or a throughput over its baseline).
func atLeast(lo float64) goal { return goal{lo: lo, hi: math.Inf(1), set: true} }

// between is the range [lo, hi].
func between(lo, hi float64) goal { return goal{lo: lo, hi: hi, set: true} }

// aboveZeroTo is the range (0, hi]: the measured quantity must be there at
// all (a run that made no request or took no time did not run).
func aboveZeroTo(hi float64) goal { return goal{hi: hi, loOpen: true, set: true} }

func (g goal) met(ratio float64) bool {
	if math.IsNaN(ratio) {
		return false
	}
	if g.loOpen && ratio <= g.lo || !g.loOpen && ratio < g.lo {
		return false
	}
	return ratio <= g.hi
}

func (g goal) String() string {
	switch {
	case math.IsInf(g.hi, 1):
		return fmt.Sprintf(">= %.2f", g.lo)
	case g.loOpen:
		return fmt.Sprintf("within (%s, %s]", trimRatio(g.lo), trimRatio(g.hi))
	default:
		return fmt.Sprintf("within [%s, %s]", trimRatio(g.lo), trimRatio(g.hi))
	}
}

// trimRatio prints a bound with the digits it needs (0.01, 0.5, 1).
func trimRatio(f float64) string {
	s := strings.TrimRight(fmt.Sprintf("%.3f", f), "0")
	return strings.TrimSuffix(s, ".")
}

// settle fills a row's target and ok from its goal, if it has one: the
// text is the goal's range, then what the row's target already says (its
// other conditions, which failed when extraFail is set).
func (r row) settle() row {
	if !r.goal.set {
		return r
	}
	cond := r.target
	r.target = r.goal.String()
	if cond != "" {
		r.target += ", " + cond
	}
	r.ok = r.goal.met(r.ratio) && !r.extraFail
	return r
}

// baselineCell is the baseline column: what the ratio's denominator is. A
// same-run baseline was measured in this run, on this machine, by the
// same process; a bound is a physical or configured limit (a server's
// rate limit, a heartbeat timeout, a fixed objective) that the run is
// compared with, not a measurement.
func (r row) baselineCell() string {
	if r.bound {
		return "bound: " + r.baseline
	}
	return "same run: " + r.baseline
}

// median of xs (the mean of the middle two for an even count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// sampleAlternating runs n samples of a row whose measurement compares two
// paths, flipping which path goes first from one sample to the next (the
// flag run gets: false for the baseline first), and returns the row of the
// median ratio with every sample's ratio in its measured text. Close to a
// target, one sample says little and a fixed order favours one path (the
// second runs on a warmer heap and page cache).
func sampleAlternating(n int, run func(sample int, baselineFirst bool) (row, error)) (row, error) {
	n = max(n, 1)
	var rows []row
	var ratios []float64
	for i := range n {
		r, err := run(i, i%2 == 0)
		if err != nil {
			return r, fmt.Errorf("sample %d of %d: %w", i+1, n, err)
		}
		rows = append(rows, r)
		ratios = append(ratios, r.ratio)
	}
	med := median(ratios)
	best := rows[0]
	for _, r := range rows[1:] { // the sample nearest the median stands for it
		if math.Abs(r.ratio-med) < math.Abs(best.ratio-med) {
			best = r
		}
	}
	if n > 1 {
		texts := make([]string, len(ratios))
		for i, x := range ratios {
			texts[i] = fmt.Sprintf("%.2f", x)
		}
		best.measured += fmt.Sprintf("; median of %d alternating samples [%s]", n, strings.Join(texts, " "))
		best.ratio = med // a row with a goal is judged on it (settle)
	}
	return best, nil
}

// verdict counts a table's failures: rows whose correctness part failed
// (wrong: records, states, requests the run must have made) and rows that
// missed only their figure's target.
type verdict struct{ wrong, missed int }

// printTable writes the result table and returns its verdict.
func printTable(out io.Writer, rows []row) verdict {
	var v verdict
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nbenchmark\tmeasured\tbaseline\tratio\ttarget\tmet")
	for _, r := range rows {
		r = r.settle()
		met := "yes"
		switch {
		case r.wrong != "":
			met = "FAIL: " + r.wrong
			v.wrong++
		case !r.ok:
			met = "NO"
			v.missed++
		}
		ratio := fmt.Sprintf("%.2f", r.ratio)
		if r.ratio < 0.1 {
			ratio = fmt.Sprintf("%.3f", r.ratio) // the small targets (<= 0.01) need the third digit
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.measured, r.baselineCell(), ratio, r.target, met)
	}
	_ = tw.Flush()
	return v
}

// exitCode turns a verdict into the command's status: a failed
// correctness part always fails the run; a missed figure fails a full
// run, and with -short (CI, on a loaded machine, smaller sizes: figures
// indicative only) is reported without failing unless strict.
func (v verdict) exitCode(out io.Writer, short, strict bool) int {
	if v.wrong > 0 {
		fmt.Fprintf(out, "\nFAIL: %d row(s) failed a correctness check (see the met column)\n", v.wrong)
		return 1
	}
	if v.missed == 0 {
		return 0
	}
	if short && !strict {
		fmt.Fprintf(out, "\nMISSED: %d figure target(s) not met (reported, not failed: -short figures are indicative; -strict fails them)\n", v.missed)
		return 0
	}
	fmt.Fprintf(out, "\nFAIL: %d figure target(s) not met\n", v.missed)
	return 1
}
