package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// barWidth is the width of a progress bar, in cells.
const barWidth = 20

// isTerminal reports whether w is a terminal that progress can be drawn
// on live: one with a width (a pseudo-terminal may report none).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	return err == nil && width > 0
}

// progressLine is one line of live progress: text before and after a bar
// of done out of total; total <= 0 shows no bar.
type progressLine struct {
	before, after string
	done, total   int64
}

// plain is the line as printed without a terminal, its bar in text.
func (l progressLine) plain() string {
	if l.total <= 0 {
		return l.before + l.after
	}
	pct := min(l.done, l.total) * 100 / l.total
	return l.before + fmt.Sprintf("%6d/%-6d %s %3d%%", l.done, l.total, bar(l.done, l.total, barWidth), pct) + l.after
}

// live shows a block of progress lines: drawn in place by mpb on a
// terminal, otherwise printed as a new block every plainEvery.
type live struct {
	w          io.Writer
	plainEvery time.Duration
	lastPlain  time.Time // when the last block was printed (not a terminal)
	start      time.Time

	p    *mpb.Progress // on a terminal, until close
	bars []*liveBar
}

func newLive(w io.Writer) *live {
	l := &live{w: w, plainEvery: 3 * time.Second, start: time.Now()}
	if isTerminal(w) {
		l.p = mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(200*time.Millisecond), mpb.ForceTTY())
	}
	return l
}

// interval is how often the caller should refresh.
func (l *live) interval() time.Duration {
	if l.p != nil {
		return 500 * time.Millisecond
	}
	return time.Second
}

// show draws lines. Without a terminal it prints only every plainEvery,
// unless final is set. Final lines are the last: on a terminal they stay
// on screen and what follows is printed below them.
func (l *live) show(lines []progressLine, final bool) {
	if l.p != nil {
		l.draw(lines)
		if final {
			l.close()
		}
		return
	}
	now := time.Now()
	if !final && now.Sub(l.lastPlain) < l.plainEvery {
		return
	}
	l.lastPlain = now
	elapsed := now.Sub(l.start).Truncate(time.Second)
	for _, s := range lines {
		fmt.Fprintf(l.w, "[%6s] %s\n", elapsed, s.plain())
	}
}

// draw updates the bars, one per line, adding and removing bars as the
// number of lines changes.
func (l *live) draw(lines []progressLine) {
	for i, ln := range lines {
		if i == len(l.bars) {
			l.bars = append(l.bars, newLiveBar(l.p, ln.total > 0))
		}
		l.bars[i].set(ln)
	}
	for _, b := range l.bars[min(len(lines), len(l.bars)):] {
		b.bar.Abort(true)
	}
	l.bars = l.bars[:min(len(lines), len(l.bars))]
}

// say prints a message above the live block.
func (l *live) say(format string, args ...any) {
	w := l.w
	if l.p != nil {
		w = l.p
	}
	fmt.Fprintf(w, format+"\n", args...)
}

// close ends live drawing, leaving the last lines on screen; the caller
// may then write to the terminal directly. Without a terminal it does
// nothing.
func (l *live) close() {
	if l.p == nil {
		return
	}
	for _, b := range l.bars {
		b.bar.Abort(false) // stops it as it is: it stays on screen
	}
	l.p.Wait()
	l.p, l.bars = nil, nil
}

// liveBar is one line drawn by mpb; its decorators read the latest line.
type liveBar struct {
	bar  *mpb.Bar
	mu   sync.Mutex
	line progressLine
}

// newLiveBar adds a line to p: a bar if withBar, else only text. Its total
// is 0 so that mpb never completes it on its own (a sync with every record
// may still be running): close stops it.
func newLiveBar(p *mpb.Progress, withBar bool) *liveBar {
	b := &liveBar{}
	if !withBar {
		b.bar = p.New(0, mpb.NopStyle(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			return b.get().plain()
		})))
		return b
	}
	style := mpb.BarStyle().Lbound("").Rbound("").Filler("█").Tip("").Padding("░")
	b.bar = p.New(0, style, mpb.BarWidth(barWidth),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			l := b.get()
			return l.before + fmt.Sprintf("%6d/%-6d", l.done, l.total)
		})),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
			l := b.get()
			// Leave the bar its room: mpb gives what is left to it.
			return clip(fmt.Sprintf("%3d%%", min(l.done, l.total)*100/max(l.total, 1))+l.after, s.AvailableWidth-barWidth-2)
		})))
	return b
}

// clip cuts s to at most n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	return string(r[:n-1]) + "…"
}

func (b *liveBar) set(l progressLine) {
	b.mu.Lock()
	b.line = l
	b.mu.Unlock()
	if l.total > 0 {
		b.bar.SetTotal(l.total, false)
	}
	b.bar.SetCurrent(max(min(l.done, l.total), 0))
}

func (b *liveBar) get() progressLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.line
}

// bar is a text progress bar of width cells; total <= 0 shows no bar.
func bar(done, total int64, width int) string {
	if total <= 0 {
		return strings.Repeat("·", width)
	}
	n := int(min(done, total) * int64(width) / total)
	return strings.Repeat("█", n) + strings.Repeat("░", width-n)
}
