// This file holds the commands that change bundles: upload, enable, deploy, disable, rm.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// uploadTimeout bounds one upload (256 MiB over a slow link).
const uploadTimeout = 30 * time.Minute

// uploaded is the answer of POST /api/v1/add_func.
type uploaded struct {
	SHA     string `json:"sha"`
	Type    string `json:"type"`
	Host    string `json:"host"`
	Route   string `json:"route"`
	New     bool   `json:"new"`
	Swagger struct {
		Info struct {
			Title   string `json:"title"`
			Version any    `json:"version"`
		} `json:"info"`
	} `json:"swagger"`
}

func (u uploaded) bundle() bundleInfo {
	v := ""
	if u.Swagger.Info.Version != nil {
		v = fmt.Sprint(u.Swagger.Info.Version)
	}
	return bundleInfo{SHA: u.SHA, Host: u.Host, Path: u.Route, Type: u.Type, Title: u.Swagger.Info.Title, Version: v}
}

// upload streams the bundle file to the Tron (with a progress bar on a terminal) and
// prints what it stored.
func (c *client) upload(file string) (bundleInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return bundleInfo{}, fmt.Errorf("reading the bundle: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		return bundleInfo{}, fmt.Errorf("%s is not a bundle file (funcatron pack DIR makes one)", file)
	}
	body, finish := withProgress(f, c.out, filepath.Base(file), fi.Size())
	ctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
	defer cancel()
	_, raw, err := c.request(ctx, "POST", "/api/v1/add_func", body, fi.Size(), "application/zip")
	finish()
	if err != nil {
		return bundleInfo{}, fmt.Errorf("uploading %s: %w", file, err)
	}
	var u uploaded
	if err := decodeAnswer(raw, &u); err != nil {
		return bundleInfo{}, err
	}
	b := u.bundle()
	again := ""
	if !u.New {
		again = " (already stored)"
	}
	fmt.Fprintf(c.out, "uploaded %s%s: %s, %s on %s, sha %s\n", file, again, b.name(), b.Type, routeName(b.Host, b.Path), b.SHA)
	return b, nil
}

// enableOptions are enable's and deploy's flags.
type enableOptions struct {
	props   string // "" = no props key: with --replace the replaced bundle's props stay
	replace bool
}

// enableAnswer is the answer of POST /api/v1/enable.
type enableAnswer struct {
	SHA      string            `json:"sha"`
	Msg      string            `json:"msg"`
	Runners  []string          `json:"runners"`
	Warning  string            `json:"warning"`
	Errors   map[string]string `json:"errors"`
	Replaced string            `json:"replaced"`
}

// enable enables sha (as the Tron takes it) and prints the outcome once. retry is the
// command that replaces, for the message when the route is taken.
func (c *client) enable(sha string, o enableOptions, retry string) error {
	req := map[string]any{"sha": sha, "replace": o.replace}
	if o.props != "" {
		p, err := readProps(o.props)
		if err != nil {
			return err
		}
		req["props"] = p
	}
	var res enableAnswer
	status, err := c.postJSON("POST", "/api/v1/enable", req, &res)
	if err != nil {
		return explainConflict(err, retry)
	}
	c.printEnabled(status, res)
	return nil
}

// explainConflict rewords the Tron's 409 for a taken route in the CLI's terms.
func explainConflict(err error, retry string) error {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Msg, "already serves") {
		return err
	}
	what, _, _ := strings.Cut(ae.Msg, ";")
	return fmt.Errorf("%s\n  to replace it, run: %s", what, retry)
}

func (c *client) printEnabled(status int, res enableAnswer) {
	line := "enabled " + shortSHA(res.SHA)
	if res.Replaced != "" {
		line += ", replacing " + shortSHA(res.Replaced)
	}
	if status == http.StatusAccepted {
		line += "; not served yet: " + res.Warning
		for runner, e := range res.Errors {
			line += "\n  " + runner + ": " + e
		}
	} else {
		line += "; served by " + strings.Join(res.Runners, ", ")
	}
	fmt.Fprintln(c.out, line)
}

// readProps takes props as inline JSON or @file.
func readProps(s string) (map[string]any, error) {
	b := []byte(s)
	if name, ok := strings.CutPrefix(s, "@"); ok {
		var err error
		if b, err = os.ReadFile(name); err != nil {
			return nil, fmt.Errorf("--props: %w", err)
		}
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil || p == nil {
		return nil, fmt.Errorf("--props: want a JSON object like '{\"greeting\":\"hi\"}' or @FILE holding one")
	}
	return p, nil
}

func (c *client) disable(arg string) error {
	sha, err := c.resolve(arg, true)
	if err != nil {
		return err
	}
	var res struct {
		SHA     string `json:"sha"`
		Msg     string `json:"msg"`
		Warning string `json:"warning"`
	}
	if _, err := c.postJSON("POST", "/api/v1/disable", map[string]any{"sha": sha}, &res); err != nil {
		return err
	}
	line := "disabled " + shortSHA(res.SHA)
	if strings.Contains(res.Msg, "was not enabled") {
		line = shortSHA(res.SHA) + " was not enabled"
	}
	if res.Warning != "" {
		line += "; " + res.Warning
	}
	fmt.Fprintln(c.out, line)
	return nil
}

func (c *client) remove(arg string) error {
	sha, err := c.resolve(arg, false)
	if err != nil {
		return err
	}
	var res struct {
		SHA string `json:"sha"`
	}
	if _, err := c.postJSON("DELETE", "/api/v1/bundle/"+sha, nil, &res); err != nil {
		return err
	}
	fmt.Fprintln(c.out, "deleted "+shortSHA(res.SHA))
	return nil
}
