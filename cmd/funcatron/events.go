// This file is `funcatron events`: the Tron's recent lifecycle events and, with -f, the
// new ones as they happen (GET /api/v1/events as Server-Sent Events).

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

// event is one lifecycle event as the Tron publishes it.
type event struct {
	Key        string `json:"key"`
	Event      string `json:"event"`
	At         int64  `json:"at"`
	SHA        string `json:"sha"`
	Host       string `json:"host"`
	Path       string `json:"path"`
	Node       string `json:"node"`
	NodeType   string `json:"node-type"`
	InstanceID string `json:"instance-id"`
	Routes     int    `json:"routes"`
	Replaced   string `json:"replaced"`
}

// line is the event for a person: time, name, then what it is about.
func (e event) line() string {
	parts := []string{formatTime(e.At), fmt.Sprintf("%-16s", e.Event)}
	if e.SHA != "" {
		parts = append(parts, "bundle "+shortSHA(e.SHA))
	}
	if e.Path != "" {
		parts = append(parts, "route "+routeName(e.Host, e.Path))
	}
	if e.Replaced != "" {
		parts = append(parts, "replacing "+shortSHA(e.Replaced))
	}
	if e.Node != "" {
		parts = append(parts, strings.TrimSpace(e.NodeType+" "+e.Node+" "+e.InstanceID))
	}
	if e.Event == "route.updated" {
		parts = append(parts, fmt.Sprintf("%d routes", e.Routes))
	}
	return strings.Join(parts, "  ")
}

func (c *client) events(follow, asJSON bool) error {
	show := func(raw []byte) error { return printEvent(c.out, raw, asJSON) }
	if !follow {
		var res struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := c.getJSON("/api/v1/events", &res); err != nil {
			return err
		}
		for _, e := range res.Events {
			if err := show(e); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return c.followSSE(ctx, "/api/v1/events", show)
}

// followSSE reads the Server-Sent Events stream at path (events, logs) until ctx ends or
// the Tron ends it, handing each item's data to fn.
func (c *client) followSSE(ctx context.Context, path string, fn func([]byte) error) error {
	resp, err := c.send(ctx, "GET", path, nil, 0, "", "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return c.answerError(resp.StatusCode, raw)
	}
	err = readSSE(resp.Body, fn)
	if ctx.Err() != nil {
		return nil // interrupted: the normal end of -f
	}
	if err == nil {
		err = fmt.Errorf("the Tron ended the stream (it stopped, or this client fell too far behind)")
	}
	return err
}

// readSSE hands each event's data to fn; comments (heartbeats) are skipped. Multi-line
// data is joined with newlines, as the SSE format says.
func readSSE(r io.Reader, fn func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" && len(data) > 0:
			if err := fn([]byte(strings.Join(data, "\n"))); err != nil {
				return err
			}
			data = data[:0]
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return sc.Err()
}

func printEvent(out io.Writer, raw []byte, asJSON bool) error {
	if asJSON {
		_, err := fmt.Fprintln(out, string(raw))
		return err
	}
	var e event
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("an event that is not JSON: %w", err)
	}
	_, err := fmt.Fprintln(out, e.line())
	return err
}
