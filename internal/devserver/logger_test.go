package devserver

import (
	"bytes"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

func TestServerLoggerPassesWarningsAndErrorsOnly(t *testing.T) {
	var buf bytes.Buffer
	quiet := &atomic.Bool{}
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), quiet)

	l.Debug("debug-msg")
	l.Info("info-msg")
	l.(log.WithLogger).With(tag.NewStringTag("component", "matching")).Warn("warn-msg", tag.NewInt("shard", 3))
	l.Error("error-msg")
	quiet.Store(true)
	l.Warn("quiet-warn-msg")
	l.Error("quiet-error-msg")

	out := buf.String()
	assert.NotContains(t, out, "debug-msg")
	assert.NotContains(t, out, "info-msg")
	assert.Contains(t, out, "level=WARN msg=warn-msg component=matching shard=3")
	assert.Contains(t, out, "level=ERROR msg=error-msg")
	assert.NotContains(t, out, "quiet-warn-msg")
	assert.Contains(t, out, "quiet-error-msg")

	sl := l.(log.SLogWrapper).SLog()
	sl.Info("slog-info-msg")
	assert.NotContains(t, buf.String(), "slog-info-msg")
}

func TestServerLoggerFatalPanicsInsteadOfExiting(t *testing.T) {
	l := newServerLogger(slog.New(slog.DiscardHandler), &atomic.Bool{})
	assert.Panics(t, func() { l.Fatal("boom") })
}
