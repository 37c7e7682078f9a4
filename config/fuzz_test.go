package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader as a configuration file: it
// must never panic, must fail with an *Error, and whatever it accepts must
// satisfy the checks it promises.
func FuzzLoad(f *testing.F) {
	for _, path := range []string{"example.yaml", "testdata/valid.yaml", "testdata/tasks.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := load("fuzz.yaml", data)
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
				t.Fatalf("error is not a *config.Error with problems: %v", err)
			}
			return
		}
		if len(cfg.Datasets) == 0 {
			t.Fatal("accepted a file without datasets")
		}
		seen := map[string]bool{}
		for _, ds := range cfg.Datasets {
			if !isSafeID(ds.ID) || seen[ds.ID] {
				t.Fatalf("accepted unsafe or duplicate id %q", ds.ID)
			}
			seen[ds.ID] = true
			if ds.Source.Timeout <= 0 && ds.Source.Timeouts.Total <= 0 {
				t.Fatalf("dataset %q: no default timeout", ds.ID)
			}
			if err := ds.Source.Validate(); err != nil {
				t.Fatalf("dataset %q: accepted an invalid source: %v", ds.ID, err)
			}
		}
		if _, err := loadTasks("fuzz.yaml", data); err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("tasks error is not a *config.Error: %v", err)
			}
		}
	})
}
