package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

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

// TestReadmeCLIReference holds README's CLI reference to the real CLI: every
// command has a row, and every flag of a command is named in its row.
func TestReadmeCLIReference(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	rows := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `starter "); ok {
			name, _, _ := strings.Cut(rest, " ")
			rows[strings.TrimRight(name, "`")] += line
		}
	}
	root := (&app{}).rootCommand()
	for _, c := range root.Commands() {
		row, ok := rows[c.Name()]
		require.True(t, ok, "README's CLI reference has no row for `starter %s`", c.Name())
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" {
				require.Contains(t, row, "--"+f.Name, "README's row for `starter %s` does not name --%s", c.Name(), f.Name)
			}
		})
	}
}
