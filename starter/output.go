package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// isTerminal reports whether w is a character device (a terminal), where
// progress is redrawn in place with ANSI escapes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// live shows a block of progress lines: redrawn in place on a terminal,
// otherwise printed as a new block every plainEvery.
type live struct {
	w          io.Writer
	tty        bool
	plainEvery time.Duration
	shown      int       // lines drawn last time (terminal)
	lastPlain  time.Time // when the last block was printed (not a terminal)
	start      time.Time
}

func newLive(w io.Writer) *live {
	return &live{w: w, tty: isTerminal(w), plainEvery: 3 * time.Second, start: time.Now()}
}

// interval is how often the caller should refresh.
func (l *live) interval() time.Duration {
	if l.tty {
		return 500 * time.Millisecond
	}
	return time.Second
}

// show draws lines. Without a terminal it prints only every plainEvery,
// unless force is set (the final state).
func (l *live) show(lines []string, force bool) {
	if l.tty {
		var b strings.Builder
		// Autowrap off while drawing: a long line is clipped by the
		// terminal instead of wrapping, which would break the redraw.
		b.WriteString("\x1b[?7l")
		if l.shown > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", l.shown)
		}
		for _, s := range lines {
			b.WriteString("\x1b[2K" + s + "\n")
		}
		for i := len(lines); i < l.shown; i++ {
			b.WriteString("\x1b[2K\n")
		}
		b.WriteString("\x1b[?7h")
		l.shown = max(len(lines), l.shown)
		io.WriteString(l.w, b.String())
		return
	}
	now := time.Now()
	if !force && now.Sub(l.lastPlain) < l.plainEvery {
		return
	}
	l.lastPlain = now
	elapsed := now.Sub(l.start).Truncate(time.Second)
	for _, s := range lines {
		fmt.Fprintf(l.w, "[%6s] %s\n", elapsed, s)
	}
}

// say prints a message between redraws without breaking the block.
func (l *live) say(format string, args ...any) {
	fmt.Fprintf(l.w, format+"\n", args...)
	l.shown = 0
}

// bar is a text progress bar of width cells; total <= 0 shows no bar.
func bar(done, total int64, width int) string {
	if total <= 0 {
		return strings.Repeat("·", width)
	}
	n := int(min(done, total) * int64(width) / total)
	return strings.Repeat("█", n) + strings.Repeat("░", width-n)
}

// table writes rows aligned in columns; the first row is the header.
func table(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// fmtDuration renders d to a tenth of a second below a minute, to the
// second above.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// fmtTime renders t in local time, "-" when zero.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// writeJSON writes v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
