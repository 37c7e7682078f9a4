// Package modroot finds the module's root directory for the repository
// tools (archcheck, funclen), which run from anywhere inside the module.
package modroot

import (
	"errors"
	"os"
	"path/filepath"
)

// Find returns the directory holding go.mod, from the working directory up.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found from the working directory upwards")
		}
		dir = parent
	}
}
