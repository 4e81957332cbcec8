package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// client speaks the Tron's admin API over plain net/http: a CLI is no hot path.
type client struct {
	base  string
	token string
	out   io.Writer
	http  http.Client
}

func (c *client) command(name string, args []string) error {
	switch name {
	case "upload":
		return c.withFile(args, func(file string) error { _, err := c.upload(file); return err })
	case "enable":
		return c.enableCmd(args, "")
	case "deploy":
		return c.withFile(args[:min(1, len(args))], func(file string) error {
			sha, err := c.upload(file)
			if err != nil {
				return err
			}
			return c.enableCmd(append([]string{sha}, args[1:]...), sha)
		})
	case "disable":
		return c.withSHA(args, func(sha string) error {
			return c.call("POST", "/api/v1/disable", map[string]any{"sha": sha})
		})
	case "rm":
		return c.withSHA(args, func(sha string) error { return c.call("DELETE", "/api/v1/bundle/"+sha, nil) })
	case "ls":
		return c.call("GET", "/api/v1/known_funcs", nil)
	case "routes":
		return c.call("GET", "/api/v1/routes", nil)
	case "stats":
		return c.call("GET", "/api/v1/stats", nil)
	case "pack":
		return packCmd(args, c.out)
	case "help", "-h", "--help":
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown command %q (try funcatron help)", name)
}

func (c *client) withFile(args []string, fn func(string) error) error {
	if len(args) != 1 {
		return fmt.Errorf("want one bundle file")
	}
	return fn(args[0])
}

func (c *client) withSHA(args []string, fn func(string) error) error {
	if len(args) != 1 {
		return fmt.Errorf("want one bundle sha")
	}
	return fn(args[0])
}

// upload posts the bundle and returns its sha.
func (c *client) upload(file string) (string, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var res struct {
		SHA   string `json:"sha"`
		Route string `json:"route"`
	}
	if err := c.do("POST", "/api/v1/add_func", "application/zip", body, &res); err != nil {
		return "", fmt.Errorf("uploading %s: %w", file, err)
	}
	fmt.Fprintf(c.out, "uploaded %s: sha %s, route %s\n", file, res.SHA, res.Route)
	return res.SHA, nil
}

func (c *client) enableCmd(args []string, sha string) error {
	fs := flag.NewFlagSet("enable", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	props := fs.String("props", "{}", "")
	replace := fs.Bool("replace", false, "")
	if len(args) == 0 {
		return fmt.Errorf("want a bundle sha")
	}
	sha = args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	p, err := readProps(*props)
	if err != nil {
		return err
	}
	return c.call("POST", "/api/v1/enable", map[string]any{"sha": sha, "props": p, "replace": *replace})
}

// readProps takes props as inline JSON or @file.
func readProps(s string) (map[string]any, error) {
	b := []byte(s)
	if name, ok := strings.CutPrefix(s, "@"); ok {
		var err error
		if b, err = os.ReadFile(name); err != nil {
			return nil, err
		}
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("props: want a JSON object: %w", err)
	}
	return p, nil
}

// call sends a JSON request and prints the JSON answer, indented.
func (c *client) call(method, path string, req any) error {
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return err
		}
	}
	var res json.RawMessage
	if err := c.do(method, path, "application/json", body, &res); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, res, "", "  ") != nil {
		pretty.Write(res)
	}
	fmt.Fprintln(c.out, pretty.String())
	return nil
}

// do performs one request; a non-2xx answer becomes an error carrying the Tron's message.
func (c *client) do(method, path, contentType string, body []byte, into any) error {
	req, err := http.NewRequest(method, strings.TrimRight(c.base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.http.Timeout = 2 * time.Minute
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if resp.StatusCode == http.StatusAccepted {
		fmt.Fprintf(c.out, "accepted (202): %s\n", bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, into)
}
