// Package logging builds the daemons' slog loggers from --log-level and --log-format, and
// ships their records to funcatron.logging (ship.go).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Logs is a daemon's logging: its Logger, the Level the logger and the shipping share
// (a LevelVar: the configuration RPC changes it at run time), and the Shipper that puts
// the records at or above that level on funcatron.logging once the daemon runs it.
type Logs struct {
	Logger  *slog.Logger
	Level   *slog.LevelVar
	Shipper *Shipper
}

// Open returns the logging of component ("tron", "runner") writing to w at level (a
// ParseLevel name) in format ("text" or "json").
func Open(w io.Writer, component, level, format string) (*Logs, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	l := &Logs{Level: new(slog.LevelVar), Shipper: NewShipper(component)}
	l.Level.Set(lv)
	opts := &slog.HandlerOptions{Level: l.Level}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	l.Logger = slog.New(l.Shipper.Handler(h, l.Level))
	return l, nil
}
