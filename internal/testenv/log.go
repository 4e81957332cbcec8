package testenv

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// LogWriter writes log lines to t.Log until it is closed: a daemon's goroutine that logs
// after its test ended would make the testing package panic.
type LogWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

// NewLogWriter returns a LogWriter for t; it closes itself in t.Cleanup at the latest.
func NewLogWriter(t testing.TB) *LogWriter {
	w := &LogWriter{t: t}
	t.Cleanup(w.Close)
	return w
}

func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// Close drops every later line.
func (w *LogWriter) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// Logger is a debug-level text logger writing to t.Log (shown when the test fails or -v).
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(NewLogWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
