package main

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestGoalIsTwoSided(t *testing.T) {
	for _, tc := range []struct {
		g     goal
		ratio float64
		want  bool
	}{
		{between(0.9, 1), 0, false}, // a stalled run
		{between(0.9, 1), 0.95, true},
		{between(0.9, 1), 1.01, false},
		{aboveZeroTo(0.01), 0, false}, // no request at all
		{aboveZeroTo(0.01), 0.005, true},
		{aboveZeroTo(0.01), 0.02, false},
		{atLeast(0.8), 0.79, false},
		{atLeast(0.8), 5, true},
		{between(0, 1), math.NaN(), false},
	} {
		if got := tc.g.met(tc.ratio); got != tc.want {
			t.Errorf("%v met(%v) = %v, want %v", tc.g, tc.ratio, got, tc.want)
		}
	}
	if s := between(0.9, 1.25).String(); s != "within [0.9, 1.25]" {
		t.Errorf("String() = %q", s)
	}
	if s := aboveZeroTo(0.05).String(); s != "within (0, 0.05]" {
		t.Errorf("String() = %q", s)
	}
}

func TestSettleJudgesTheGoalAndTheOtherConditions(t *testing.T) {
	r := row{ratio: 1, goal: between(0.95, 1.05), target: "no 429"}.settle()
	if !r.ok || r.target != "within [0.95, 1.05], no 429" {
		t.Errorf("settle = %+v", r)
	}
	if r := (row{ratio: 1, goal: between(0.95, 1.05), extraFail: true}).settle(); r.ok {
		t.Error("a failed other condition must fail the row")
	}
	if r := (row{ratio: 0, goal: between(0.95, 1.05)}).settle(); r.ok {
		t.Error("a stalled run must fail the row")
	}
	if r := (row{ratio: 0, target: "legacy", ok: true}).settle(); !r.ok || r.target != "legacy" {
		t.Error("a row without a goal keeps its own verdict")
	}
}

func TestSampleAlternatingFlipsTheOrderAndTakesTheMedian(t *testing.T) {
	var order []bool
	ratios := []float64{0.9, 0.5, 0.7}
	r, err := sampleAlternating(3, func(i int, baselineFirst bool) (row, error) {
		order = append(order, baselineFirst)
		return row{ratio: ratios[i], measured: "m", goal: atLeast(0.8)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Errorf("order = %v, want %v", order, want)
	}
	if r.ratio != 0.7 || !strings.Contains(r.measured, "[0.90 0.50 0.70]") {
		t.Errorf("row = %+v, want the median 0.7 and every sample", r)
	}
	if _, err := sampleAlternating(3, func(int, bool) (row, error) { return row{}, errors.New("boom") }); err == nil {
		t.Error("a failed sample must fail the row")
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
}

func TestExitCode(t *testing.T) {
	rows := func(rs ...row) []row { return rs }
	good := row{ratio: 1, goal: between(0.9, 1)}
	missed := row{ratio: 0.5, goal: between(0.9, 1)}
	wrong := row{ratio: 1, goal: between(0.9, 1), wrong: "checkpoint running"}
	for _, tc := range []struct {
		name          string
		rows          []row
		short, strict bool
		want          int
	}{
		{"all met", rows(good), false, false, 0},
		{"missed figure, full run", rows(good, missed), false, false, 1},
		{"missed figure, -short", rows(good, missed), true, false, 0},
		{"missed figure, -short -strict", rows(missed), true, true, 1},
		{"correctness, -short", rows(good, wrong), true, false, 1},
	} {
		var out bytes.Buffer
		if got := printTable(&out, tc.rows).exitCode(&out, tc.short, tc.strict); got != tc.want {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, got, tc.want, out.String())
		}
	}
}
