package logging_test

import (
	"log/slog"
	"testing"

	"github.com/funcatron/funcatron/internal/logging"
)

// TestKey: every RackHD level name the mapping produces, at its level and between it and
// the next (the name at or below the level), and each name read back by ParseLevel.
func TestKey(t *testing.T) {
	for _, c := range []struct {
		level slog.Level
		key   string
	}{
		{logging.LevelSilly - 4, "silly"},
		{logging.LevelSilly, "silly"},
		{slog.LevelDebug - 1, "silly"},
		{slog.LevelDebug, "debug"},
		{slog.LevelInfo - 1, "debug"},
		{slog.LevelInfo, "info"},
		{logging.LevelNotice - 1, "info"},
		{logging.LevelNotice, "notice"},
		{slog.LevelWarn - 1, "notice"},
		{slog.LevelWarn, "warning"},
		{slog.LevelError - 1, "warning"},
		{slog.LevelError, "error"},
		{logging.LevelAlert - 1, "error"},
		{logging.LevelAlert, "alert"},
		{logging.LevelEmerg - 1, "alert"},
		{logging.LevelEmerg, "emerg"},
		{logging.LevelEmerg + 4, "emerg"},
	} {
		if got := logging.Key(c.level); got != c.key {
			t.Errorf("Key(%v) = %q, want %q", c.level, got, c.key)
		}
		if l, err := logging.ParseLevel(c.key); err != nil || logging.Key(l) != c.key {
			t.Errorf("ParseLevel(%q) = %v, %v: Key of it is not %q", c.key, l, err, c.key)
		}
	}
}
