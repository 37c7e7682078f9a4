package devserver

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// newServerLogger adapts an slog.Logger to the server's log.Logger. The server
// logs a great deal at debug and info level, so only warnings and errors pass.
// While quiet is set, warnings are dropped too: during start-up and shutdown
// the services warn about each other not listening yet (or any more), which
// is expected and says nothing useful. A nil logger discards everything.
func newServerLogger(l *slog.Logger, quiet *atomic.Bool) log.Logger {
	if l == nil {
		return log.NewNoopLogger()
	}
	return &slogLogger{l: slog.New(&minLevelHandler{min: slog.LevelWarn, next: l.Handler()}), quiet: quiet}
}

// slogLogger implements the server's log.Logger, log.WithLogger and
// log.SLogWrapper (so server components that want an slog.Logger get the
// same filtered one).
type slogLogger struct {
	l     *slog.Logger
	quiet *atomic.Bool
}

var (
	_ log.Logger      = (*slogLogger)(nil)
	_ log.WithLogger  = (*slogLogger)(nil)
	_ log.SLogWrapper = (*slogLogger)(nil)
	_ slog.Handler    = (*minLevelHandler)(nil)
)

func (s *slogLogger) Debug(string, ...tag.Tag) {}
func (s *slogLogger) Info(string, ...tag.Tag)  {}

func (s *slogLogger) Warn(msg string, tags ...tag.Tag) {
	if s.quiet.Load() {
		return
	}
	s.log(slog.LevelWarn, msg, tags)
}

func (s *slogLogger) Error(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
}

func (s *slogLogger) DPanic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
}

// Panic logs and panics, as the server expects.
func (s *slogLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic("devserver: temporal server panic: " + msg)
}

// Fatal logs and panics rather than exiting: a library must not end its host
// process, and Start turns a panic during startup into an error.
func (s *slogLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic("devserver: temporal server fatal error: " + msg)
}

func (s *slogLogger) With(tags ...tag.Tag) log.Logger {
	return &slogLogger{l: s.l.With(tagsToArgs(tags)...), quiet: s.quiet}
}

func (s *slogLogger) SLog() *slog.Logger { return s.l }

func (s *slogLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	s.l.Log(ctx, level, msg, tagsToArgs(tags)...)
}

func tagsToArgs(tags []tag.Tag) []any {
	args := make([]any, 0, len(tags))
	for _, t := range tags {
		if t == nil {
			continue
		}
		args = append(args, slog.Any(t.Key(), t.Value()))
	}
	return args
}

// minLevelHandler drops records below min before they reach next.
type minLevelHandler struct {
	min  slog.Level
	next slog.Handler
}

func (h *minLevelHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= h.min && h.next.Enabled(ctx, level)
}

func (h *minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &minLevelHandler{min: h.min, next: h.next.WithAttrs(attrs)}
}

func (h *minLevelHandler) WithGroup(name string) slog.Handler {
	return &minLevelHandler{min: h.min, next: h.next.WithGroup(name)}
}
