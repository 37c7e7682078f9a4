package main

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunFlags(t *testing.T) {
	env := map[string]string{"EMPTY": ""}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		stderr  string
	}{
		{"help", []string{"--help"}, flag.ErrHelp.Error(), "GET /datasets/{id}/records"},
		{"bad probability", []string{"--p500", "2"}, "P500", ""},
		{"bad poison", []string{"--poison", "orders:3"}, "want DATASET:PAGE:STATUS", ""},
		{"poison status", []string{"--poison", "orders:3:500"}, "status 400 or 422", ""},
		{"poison dataset", []string{"--poison", "nope:3:422"}, `unknown dataset "nope"`, ""},
		{"token env unset", []string{"--token-env", "MISSING"}, "--token-env MISSING", ""},
		{"token env empty", []string{"--token-env", "EMPTY"}, "not set or empty", ""},
		{"extra argument", []string{"serve"}, "unexpected arguments", ""},
		{"bad listen", []string{"--listen", "256.0.0.1:bad"}, "listen on 256.0.0.1:bad", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(tt.args, &stdout, &stderr, func(k string) string { return env[k] })
			assert.ErrorContains(t, err, tt.wantErr)
			if tt.name == "help" {
				assert.True(t, errors.Is(err, flag.ErrHelp))
			}
			assert.Contains(t, stderr.String(), tt.stderr)
		})
	}
}
