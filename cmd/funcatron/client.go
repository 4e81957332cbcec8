// This file is the HTTP side of the CLI: requests to the Tron's admin API, with the token,
// and errors that say what to do.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// callTimeout bounds one request that is not an upload or a stream.
const callTimeout = 2 * time.Minute

// client speaks the Tron's admin API over plain net/http: a CLI is no hot path.
type client struct {
	base      string
	token     string
	tokenFrom string // where the token came from, for the hint on a 401
	out       io.Writer
	http      http.Client
}

// newClient finds the token: --token or $FUNCATRON_TOKEN, else the token file.
func newClient(g *globals, out io.Writer) *client {
	c := &client{base: strings.TrimRight(g.tron, "/"), token: g.token, out: out}
	if c.token != "" {
		c.tokenFrom = "--token / $FUNCATRON_TOKEN"
		return c
	}
	b, err := os.ReadFile(g.tokenFile)
	switch {
	case err != nil:
		c.tokenFrom = fmt.Sprintf("none: no --token, no $FUNCATRON_TOKEN, and %s: %v", g.tokenFile, errors.Unwrap(err))
	default:
		c.token = trimNewline(string(b))
		c.tokenFrom = "the file " + g.tokenFile
	}
	return c
}

// apiError is a non-2xx answer of the Tron.
type apiError struct {
	Status int
	Msg    string // the Tron's "error"
	hint   string // what to do, for a person
	// Runners is a failed enable's (422) error of each runner: why the bundle did not start,
	// its stderr lines among it.
	Runners map[string]string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
	ids := make([]string, 0, len(e.Runners))
	for id := range e.Runners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s += "\n  runner " + id + ":\n    " + strings.ReplaceAll(strings.TrimRight(e.Runners[id], "\n"), "\n", "\n    ")
	}
	if e.hint != "" {
		s += "\n  " + e.hint
	}
	return s
}

// tokenHint is what a 401 tells the user: where the token was looked for and how to set it.
func (c *client) tokenHint() string {
	return "token used: " + c.tokenFrom + "\n  set it with --token TOKEN, $FUNCATRON_TOKEN, or --token-file FILE " +
		"($FUNCATRON_TOKEN_FILE; default " + defaultTokenFile + "); a Tron that generated its token logs the file's path at start"
}

// request sends one request and returns the answer's status and body; a non-2xx answer is
// an *apiError carrying the Tron's message. body may be nil.
func (c *client) request(ctx context.Context, method, path string, body io.Reader, size int64, contentType string) (int, []byte, error) {
	resp, err := c.send(ctx, method, path, body, size, contentType, "")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("reading the Tron's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, raw, c.answerError(resp.StatusCode, raw)
	}
	return resp.StatusCode, raw, nil
}

// send performs the request and returns the response as is (its body still open).
func (c *client) send(ctx context.Context, method, path string, body io.Reader, size int64, contentType, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("the Tron's URL %q: %w (set --tron or $FUNCATRON_TRON)", c.base, err)
	}
	req.ContentLength = size
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("could not reach the Tron at %s: %w\n  is it running? set its URL with --tron or $FUNCATRON_TRON", c.base, err)
	}
	return resp, nil
}

// answerError turns a non-2xx answer into an *apiError.
func (c *client) answerError(status int, raw []byte) error {
	var e struct {
		Error   string          `json:"error"`
		Runners json.RawMessage `json:"runners"`
	}
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	ae := &apiError{Status: status, Msg: msg}
	if status == http.StatusUnprocessableEntity {
		json.Unmarshal(e.Runners, &ae.Runners) // a failed enable: {<runner>: <error>}
	}
	if status == http.StatusUnauthorized {
		ae.hint = c.tokenHint()
	}
	return ae
}

// getJSON GETs path and decodes the answer into into.
func (c *client) getJSON(path string, into any) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, raw, err := c.request(ctx, "GET", path, nil, 0, "")
	if err != nil {
		return err
	}
	return decodeAnswer(raw, into)
}

// postJSON sends req as JSON and decodes the answer into into; it returns the status.
func (c *client) postJSON(method, path string, req, into any) (int, error) {
	var body io.Reader
	var size int64
	if req != nil {
		b, err := json.Marshal(req)
		if err != nil {
			return 0, err
		}
		body, size = bytes.NewReader(b), int64(len(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	status, raw, err := c.request(ctx, method, path, body, size, "application/json")
	if err != nil {
		return status, err
	}
	return status, decodeAnswer(raw, into)
}

func decodeAnswer(raw []byte, into any) error {
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("the Tron's answer is not the expected JSON: %w", err)
	}
	return nil
}

// printJSON prints v (or raw JSON bytes) indented, for --json.
func printJSON(out io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}
