package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// command is one of starter's own subcommands (cobra adds help and
// completion).
type command struct {
	name  string
	build func(a *app) *cobra.Command
}

// commands are starter's subcommands, in the order help lists them.
func commands() []command {
	return []command{
		{"demo", (*app).demoCommand},
		{"sync", (*app).syncCommand},
		{"batch", (*app).batchCommand},
		{"status", (*app).statusCommand},
		{"list", (*app).listCommand},
		{"cancel", (*app).cancelCommand},
		{"schedule", (*app).scheduleCommand},
		{"reset", (*app).resetCommand},
	}
}

// rootAbout follows the command list in `starter --help`.
const rootAbout = `Run 'starter <command> --help' for a command's flags and an example.

Temporal is reached like with every Temporal tool: TEMPORAL_ADDRESS
(default localhost:7233), TEMPORAL_NAMESPACE (default "default"),
TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE. Start a local server
and worker with 'go run ./worker --dev', or try everything at once with
'go run ./starter demo'.`

// rootCommand is the whole CLI of one app. Without a command it prints the
// help to stderr and exits with exitUsage.
func (a *app) rootCommand() *cobra.Command {
	cobra.EnableCommandSorting = false
	root := &cobra.Command{
		Use:           "starter",
		Short:         "starter: syncflow's operator CLI",
		Long:          rootAbout,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SetOut(a.stderr)
			_ = c.Help()
			return exit(exitUsage)
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetHelpFunc(help)
	root.SetFlagErrorFunc(flagError)
	root.PersistentFlags().BoolP("help", "h", false, "show this help")
	for _, c := range commands() {
		root.AddCommand(c.build(a))
	}
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Use = "completion bash|zsh|fish|powershell"
			c.Short = "print a shell completion script (bash, zsh, fish, powershell)"
		}
	}
	root.SetHelpCommand(helpCommand())
	return root
}

// helpCommand is `starter help [command]`; an unknown command is a usage
// error (cobra's own help command exits 0 on it).
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "show the help of starter or of a command",
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err == nil && len(rest) > 0 {
				err = fmt.Errorf("unknown command %q", rest[0])
			}
			if err != nil {
				return err
			}
			return target.Help()
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			var names []string
			for _, s := range c.Root().Commands() {
				if s.IsAvailableCommand() && len(args) == 0 {
					names = append(names, s.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

// help prints a command's help: usage line, description, subcommands,
// flags and examples.
func help(c *cobra.Command, _ []string) {
	w := c.OutOrStdout()
	if !c.HasParent() {
		fmt.Fprintf(w, "%s\n\nUsage:\n  starter <command> [flags]\n\n", c.Short)
	} else {
		synopsis := strings.TrimPrefix(c.Use, c.Name())
		if c.HasAvailableSubCommands() && synopsis == "" {
			synopsis = " <command>"
		}
		fmt.Fprintf(w, "Usage: %s%s\n\n%s\n", c.CommandPath(), synopsis, strings.TrimSpace(orElse(c.Long, c.Short)))
	}
	if c.HasAvailableSubCommands() {
		if c.HasParent() {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "Commands:")
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() || s.Name() == "help" {
				fmt.Fprintf(w, "  %-11s %s\n", s.Name(), s.Short)
			}
		}
	}
	if !c.HasParent() {
		fmt.Fprintf(w, "\n%s\n", c.Long)
		return
	}
	fmt.Fprintf(w, "\nFlags (-name or --name):\n")
	writeFlags(w, c)
	if c.Example != "" {
		fmt.Fprintf(w, "\nExample:\n")
		for _, e := range strings.Split(strings.TrimSpace(c.Example), "\n") {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// orElse is s, or fallback when s is empty.
func orElse(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// writeFlags lists a command's flags, one a line, help last. They are
// written -name, the spelling of Go's flag package; --name works as well
// (see longFlags).
func writeFlags(w io.Writer, c *cobra.Command) {
	var rows [][2]string
	add := func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		left := "-" + f.Name
		if f.Shorthand != "" {
			left = "-" + f.Shorthand + ", " + left
		}
		name, usage := pflag.UnquoteUsage(f)
		if name != "" && f.Value.Type() != "bool" {
			left += " " + name
		}
		rows = append(rows, [2]string{left, usage + flagDefault(f)})
	}
	c.LocalFlags().VisitAll(add)
	c.InheritedFlags().VisitAll(add)
	rows = append(rows, [2]string{"-h, -help", "show this help"})
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], r[1])
	}
}

// flagDefault is " (default X)" for a flag whose default is not its type's
// zero value.
func flagDefault(f *pflag.Flag) string {
	switch {
	case f.DefValue == "" || f.DefValue == "0" || f.DefValue == "false" || f.DefValue == "[]":
		return ""
	case f.Value.Type() == "string":
		return fmt.Sprintf(" (default %q)", f.DefValue)
	default:
		return " (default " + f.DefValue + ")"
	}
}

// flagError words pflag's parse errors; an unknown flag reads as it did
// with Go's flag package.
func flagError(_ *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	if errors.As(err, &notExist) {
		name := notExist.GetSpecifiedName()
		if s := notExist.GetSpecifiedShortnames(); s != "" {
			name = s
		}
		return fmt.Errorf("flag provided but not defined: -%s", name)
	}
	return err
}

// longFlags rewrites -name to --name where name is a long flag of the
// command being invoked, so that the single-dash spelling Go's flag
// package accepted keeps working; pflag would read it as shorthands.
// Nothing after "--" and no flag's value is touched.
func longFlags(root *cobra.Command, args []string) []string {
	out := slices.Clone(args)
	cmd := root
	for i := 0; i < len(out); i++ {
		arg := out[i]
		switch {
		case arg == "--":
			return out
		case !strings.HasPrefix(arg, "-"):
			if sub := subcommand(cmd, arg); sub != nil {
				cmd = sub
			}
			continue
		case !strings.HasPrefix(arg, "--") && len(arg) > 2 && unicode.IsLetter(rune(arg[1])):
			if name, _, _ := strings.Cut(arg[1:], "="); lookupFlag(cmd, name) != nil {
				out[i] = "-" + arg
			}
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(out[i], "-"), "=")
		if f := lookupFlag(cmd, name); f != nil && !hasValue && f.NoOptDefVal == "" && strings.HasPrefix(out[i], "--") {
			i++ // -name VALUE: skip VALUE
		}
	}
	return out
}

// subcommand is cmd's subcommand called name, or nil.
func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, s := range cmd.Commands() {
		if s.Name() == name || s.HasAlias(name) {
			return s
		}
	}
	return nil
}

// lookupFlag finds a long flag of cmd, its own or a parent's persistent one.
func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	for c := cmd; c != nil; c = c.Parent() {
		if f := c.Flags().Lookup(name); f != nil {
			return f
		}
		if f := c.PersistentFlags().Lookup(name); f != nil {
			return f
		}
	}
	return nil
}

// noArgs refuses positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	return nil
}

// oneID wants exactly one positional argument: a workflow ID.
func oneID(_ *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return errors.New("the workflow ID of a sync or a batch is required")
	case len(args) > 1:
		return fmt.Errorf("unexpected argument %q", args[1])
	}
	return nil
}

// exitError ends a command with an exit code; what went wrong has been
// printed already.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exit turns a command's exit code into its RunE result.
func exit(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code}
}

// exitCode is the exit code of an executed command: an exitError's code,
// or exitUsage for any other error (a bad command line), which it prints.
func (a *app) exitCode(c *cobra.Command, err error) int {
	var e *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &e):
		return e.code
	}
	name := ""
	if c != nil && c.HasParent() {
		name = strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
	}
	return a.usageError(name, err.Error())
}
