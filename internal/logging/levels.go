package logging

import (
	"fmt"
	"log/slog"
	"strings"
)

// RackHD's log levels (spec/protocol.md §5: the routing keys of funcatron.logging) beyond
// slog's four, placed around them: notice between info and warn, alert and emerg above
// error, silly below debug.
const (
	LevelSilly  = slog.LevelDebug - 4
	LevelNotice = slog.LevelInfo + 2
	LevelAlert  = slog.LevelError + 4
	LevelEmerg  = slog.LevelError + 8
)

// Key is the funcatron.logging routing key of a record at level l: the RackHD level
// name at or below l.
func Key(l slog.Level) string {
	switch {
	case l >= LevelEmerg:
		return "emerg"
	case l >= LevelAlert:
		return "alert"
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warning"
	case l >= LevelNotice:
		return "notice"
	case l >= slog.LevelInfo:
		return "info"
	case l >= slog.LevelDebug:
		return "debug"
	}
	return "silly"
}

// levelNames are the names ParseLevel takes: slog's and RackHD's.
var levelNames = map[string]slog.Level{
	"silly": LevelSilly, "debug": slog.LevelDebug, "info": slog.LevelInfo, "notice": LevelNotice,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
	"alert": LevelAlert, "emerg": LevelEmerg,
}

// ParseLevel reads a level name (debug, info, warn, error, or a RackHD name: silly,
// notice, warning, alert, emerg), any case.
func ParseLevel(s string) (slog.Level, error) {
	if l, ok := levelNames[strings.ToLower(strings.TrimSpace(s))]; ok {
		return l, nil
	}
	return 0, fmt.Errorf("log level %q: want silly, debug, info, notice, warn, error, alert or emerg", s)
}

// LevelName is the name of l as ParseLevel reads it back (slog's names where it has one).
func LevelName(l slog.Level) string {
	switch l {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
		return strings.ToLower(l.String())
	}
	return Key(l)
}
