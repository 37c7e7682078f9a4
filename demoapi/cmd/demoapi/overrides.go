package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/syncflow/syncflow/demoapi"
)

// recordsFlag collects --records ID=N values: a dataset's size.
type recordsFlag map[string]int

func (r recordsFlag) String() string { return "" }

func (r recordsFlag) Set(v string) error {
	id, n, ok := strings.Cut(v, "=")
	total, err := strconv.Atoi(n)
	if !ok || id == "" || err != nil || total < 0 {
		return fmt.Errorf("want ID=N with N a whole number >= 0, e.g. orders=20000")
	}
	r[id] = total
	return nil
}

// limitSpec is a server-side rate limit.
type limitSpec struct {
	rps   float64
	burst int
}

// limitFlag collects --limit ID=RPS[:BURST] values: a dataset's server-side
// rate limit.
type limitFlag map[string]limitSpec

func (l limitFlag) String() string { return "" }

func (l limitFlag) Set(v string) error {
	const want = "want ID=RPS[:BURST], e.g. orders=6:6"
	id, spec, ok := strings.Cut(v, "=")
	if !ok || id == "" {
		return fmt.Errorf("%s", want)
	}
	rps, burst, hasBurst := strings.Cut(spec, ":")
	var ls limitSpec
	var err error
	if ls.rps, err = strconv.ParseFloat(rps, 64); err != nil || ls.rps < 0 {
		return fmt.Errorf("%s (RPS a number >= 0)", want)
	}
	if hasBurst {
		if ls.burst, err = strconv.Atoi(burst); err != nil || ls.burst < 1 {
			return fmt.Errorf("%s (BURST a whole number >= 1)", want)
		}
	}
	l[id] = ls
	return nil
}

// applyOverrides returns datasets with the sizes and limits of --records and
// --limit applied; a flag naming no dataset is an error.
func applyOverrides(datasets []demoapi.DatasetSpec, sizes recordsFlag, limits limitFlag) ([]demoapi.DatasetSpec, error) {
	out := slices.Clone(datasets)
	index := map[string]int{}
	for i, d := range out {
		index[d.ID] = i
	}
	for _, id := range slices.Sorted(maps.Keys(sizes)) {
		i, ok := index[id]
		if !ok {
			return nil, fmt.Errorf("--records %s: no such dataset", id)
		}
		out[i].Total = sizes[id]
	}
	for _, id := range slices.Sorted(maps.Keys(limits)) {
		i, ok := index[id]
		if !ok {
			return nil, fmt.Errorf("--limit %s: no such dataset", id)
		}
		out[i].RPS, out[i].Burst = limits[id].rps, limits[id].burst
	}
	return out, nil
}
