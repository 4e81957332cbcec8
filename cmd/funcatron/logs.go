// This file is `funcatron logs`: the bundles' recent output the Tron keeps and, with -f,
// the new lines as they come (GET /api/v1/logs as Server-Sent Events).

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
)

// logRecord is one line of bundle output as the Tron serves it (internal/logging.Record).
type logRecord struct {
	At    int64          `json:"at"`
	Level string         `json:"level"`
	Msg   string         `json:"msg"`
	ID    string         `json:"id"` // the runner
	Attrs map[string]any `json:"attrs"`
}

// line is the record for a person: time, bundle, route, stream, then the line itself.
func (r logRecord) line() string {
	attr := func(k string) string { s, _ := r.Attrs[k].(string); return s }
	return strings.Join([]string{formatTime(r.At), shortSHA(attr("sha")), routeName(attr("host"), attr("path")),
		fmt.Sprintf("%-6s", attr("stream")), r.Msg}, "  ")
}

// logsPath is the query for what the user named: nothing (every bundle), a route (an
// argument with a slash: host/path or */path), else a sha, prefix or title.
func (c *client) logsPath(arg string) (string, error) {
	switch {
	case arg == "":
		return "/api/v1/logs", nil
	case strings.Contains(arg, "/"):
		return "/api/v1/logs?route=" + url.QueryEscape(arg), nil
	}
	sha, err := c.resolve(arg, true)
	if err != nil {
		return "", err
	}
	return "/api/v1/logs?sha=" + url.QueryEscape(sha), nil
}

func (c *client) logs(arg string, follow, asJSON bool) error {
	path, err := c.logsPath(arg)
	if err != nil {
		return err
	}
	show := func(raw []byte) error { return printLog(c.out, raw, asJSON) }
	if !follow {
		var res struct {
			Logs []json.RawMessage `json:"logs"`
		}
		if err := c.getJSON(path, &res); err != nil {
			return err
		}
		for _, r := range res.Logs {
			if err := show(r); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return c.followSSE(ctx, path, show)
}

func printLog(out io.Writer, raw []byte, asJSON bool) error {
	if asJSON {
		_, err := fmt.Fprintln(out, string(raw))
		return err
	}
	var r logRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("a log record that is not JSON: %w", err)
	}
	_, err := fmt.Fprintln(out, r.line())
	return err
}
