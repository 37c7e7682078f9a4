package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLongFlagsKeepTheSingleDashSpelling(t *testing.T) {
	root := (&app{}).rootCommand()
	for _, tc := range []struct{ in, want []string }{
		{[]string{"demo", "-db-dir", "x", "-faults=false", "--port", "-1", "-h"},
			[]string{"demo", "--db-dir", "x", "--faults=false", "--port", "-1", "-h"}},
		{[]string{"list", "-query", "-limit", "-limit", "3"}, []string{"list", "--query", "-limit", "--limit", "3"}},
		{[]string{"cancel", "b1", "-task", "t", "--", "-task"}, []string{"cancel", "b1", "--task", "t", "--", "-task"}},
		{[]string{"status", "-nope", "-help"}, []string{"status", "-nope", "--help"}},
	} {
		require.Equal(t, tc.want, longFlags(root, tc.in), "%q", tc.in)
	}
}

func TestSingleDashFlagsParse(t *testing.T) {
	r := runCLI(nil, "list", "-limit", "0")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "--limit must be positive")
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := runCLI(nil, "completion", shell)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "starter", shell)
		require.Empty(t, r.stderr)
	}
	r := runCLI(nil, "help")
	require.Contains(t, r.stdout, "  completion ")
}

func TestHelpOfAnUnknownCommand(t *testing.T) {
	r := runCLI(nil, "help", "frobnicate")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, `unknown command "frobnicate"`)
	require.Empty(t, r.stdout)
}
