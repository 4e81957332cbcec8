// funcatron config: the run-time configuration of every node (GET|POST /api/v1/config,
// which the Tron answers over funcatron.configuration).

package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"
)

var configCommand = &command{
	name: "config", args: "get [KEY] | set KEY VALUE [--node ID]...", minArgs: 1, maxArgs: 3,
	summary: "read or change the nodes' run-time configuration (log level, StatsD target)",
	details: `get prints every node's current values (the Tron's and each runner's), one line per
node and key; with KEY only that key. set changes KEY to VALUE on every node (or only on
the nodes named with --node) at once, without a restart, and prints which nodes took it.

Keys:
  log-level   silly, debug, info, notice, warn, error, alert or emerg
  statsd      host:port of a StatsD server, or off

Examples:
  funcatron config get
  funcatron config set log-level debug
  funcatron config set statsd 127.0.0.1:8125 --node RU-3308bc43-648d-457a-884d-ab052db772fe`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		var nodes multiFlag
		fs.Var(&nodes, "node", "only the node `ID` (repeatable; as config get shows)")
		asJSON := fs.Bool("json", false, "print the Tron's answer as JSON")
		return func(c *client, args []string) error {
			switch {
			case args[0] == "get" && len(args) <= 2:
				key := ""
				if len(args) == 2 {
					key = args[1]
				}
				return c.configGet(key, *asJSON)
			case args[0] == "set" && len(args) == 3:
				return c.configSet(args[1], args[2], nodes, *asJSON)
			}
			return usagef("config", "usage: funcatron config get [KEY] | set KEY VALUE [--node ID]...")
		}
	},
}

// multiFlag is a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// configAnswer is GET /api/v1/config.
type configAnswer struct {
	Nodes map[string]struct {
		Component string            `json:"component"`
		Values    map[string]string `json:"values"`
	} `json:"nodes"`
}

func (c *client) configGet(key string, asJSON bool) error {
	var a configAnswer
	if err := c.getJSON("/api/v1/config", &a); err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.out, a)
	}
	ids := make([]string, 0, len(a.Nodes))
	for id := range a.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	t := newTable(c.out, "NODE", "COMPONENT", "KEY", "VALUE")
	for _, id := range ids {
		n := a.Nodes[id]
		keys := make([]string, 0, len(n.Values))
		for k := range n.Values {
			if key == "" || k == key {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.row(id, n.Component, k, n.Values[k])
		}
	}
	return t.flush()
}

// configSetAnswer is POST /api/v1/config.
type configSetAnswer struct {
	Key     string            `json:"key"`
	Value   string            `json:"value"`
	Took    []string          `json:"took"`
	Refused map[string]string `json:"refused"`
}

func (c *client) configSet(key, value string, nodes []string, asJSON bool) error {
	req := map[string]any{"key": key, "value": value}
	if len(nodes) > 0 {
		req["nodes"] = nodes
	}
	var a configSetAnswer
	if _, err := c.postJSON("POST", "/api/v1/config", req, &a); err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.out, a)
	}
	sort.Strings(a.Took)
	fmt.Fprintf(c.out, "%s=%s taken by %d node(s): %s\n", key, value, len(a.Took), strings.Join(a.Took, " "))
	for id, why := range a.Refused {
		fmt.Fprintf(c.out, "refused by %s: %s\n", id, why)
	}
	return nil
}
