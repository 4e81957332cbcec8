// Kind zbus: the x-funcatron.zbus section and the per-operation x-zbus.

package bundles

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Defaults and bounds of ZbusConfig and ZbusRoute.
const (
	DefaultZbusRedis = "redis://127.0.0.1:6379/0"
	DefaultZbusExp   = 30 // seconds: the frontends' default FUNCATRON_TIMEOUT
	DefaultZbusTry   = 4
	maxZbusExp       = 86400
	maxZbusTry       = 100
	maxZbusDst       = 64
	maxTwinID        = 1<<32 - 1 // msgbusd's twin ids are u32
)

// ZbusEndpoints are the operations endpoints: true adds to the bundle (POST under its
// basePath), named by their operationId, which is also the path without its "/".
var ZbusEndpoints = []string{"zbus-cmd", "zbus-remote", "zbus-reply", "zbus-result"}

// ZbusConfig is the x-funcatron.zbus section of a bundle of kind zbus, with defaults
// applied (spec/bundles.md §6).
type ZbusConfig struct {
	// Redis is the redis:// (or rediss://) URL of the twin's Redis. Default
	// DefaultZbusRedis.
	Redis string
	// Twin is the twin id the bundle acts as, 1 to 2^32-1. Required.
	Twin int
	// Twins is the directory: twin id -> base URL (http or https, no trailing slash) of
	// that twin's /zbus-* endpoints. Nil when not given: only Twin is reachable.
	Twins map[int]string
	// Node is the optional process serving the commands over HTTP, started like an exec
	// bundle in http mode (keys command, workers, env, health, start-timeout, timeout of
	// the zbus section). Nil without command.
	Node *ExecConfig
	// Serve lists the commands the node serves.
	Serve []ZbusServe
	// Endpoints adds the /zbus-* operations (ZbusEndpoints) to the bundle's routes. It must
	// be a literal true or false: the route's operations are fixed when the bundle is
	// opened, before props.
	Endpoints bool
	// Concurrency bounds the requests and commands in flight per runner. Default 32.
	Concurrency int
	// Routes are the operations' x-zbus, by operationId.
	Routes map[string]ZbusRoute
}

// ZbusServe is one command served by the node: msgbus.<Cmd> POSTed to Path.
type ZbusServe struct {
	Cmd  string
	Path string
}

// ZbusRoute is an operation's x-zbus: the HTTP request becomes the command Cmd sent to
// Dst, answered within Exp seconds, with Try retries to reach a remote twin.
type ZbusRoute struct {
	Cmd string
	Dst []int
	Exp int
	Try int
}

// zbusCmd is what a command name may be: msgbus.<cmd> is a Redis key, and names under
// system are msgbusd's own queues.
var zbusCmd = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$`)

// checkZbusCmd checks a command name.
func checkZbusCmd(v any) (string, error) {
	s, ok := v.(string)
	switch {
	case !ok || !zbusCmd.MatchString(s):
		return "", fmt.Errorf("must be a command name of letters, digits and . _ : - (at most 128), not %v", fmtValue(v))
	case s == "system" || strings.HasPrefix(s, "system."):
		return "", fmt.Errorf("%q is msgbusd's own queue (msgbus.system.*)", s)
	}
	return s, nil
}

// zbusNodeKeys are the zbus keys that configure the node; they mean what they mean in
// x-funcatron.exec.
var zbusNodeKeys = map[string]bool{"command": true, "workers": true, "env": true, "health": true, "start-timeout": true, "timeout": true}

// zbusSetters set one field of a ZbusConfig; their errors complete "x-funcatron.zbus.<key> ...".
var zbusSetters = map[string]func(c *ZbusConfig, v any) error{
	"redis": setZbusRedis,
	"twin": func(c *ZbusConfig, v any) (err error) {
		c.Twin, err = toTwin(v)
		return err
	},
	"twins":     setZbusTwins,
	"serve":     setZbusServe,
	"endpoints": setZbusEndpoints,
	"concurrency": func(c *ZbusConfig, v any) error {
		n, ok := toInt(v)
		if !ok || n < 1 || n > maxConcurrency {
			return fmt.Errorf("must be a whole number from 1 to %d, not %v", maxConcurrency, v)
		}
		c.Concurrency = n
		return nil
	},
}

// readZbus reads the zbus section (nil when absent: twin is then missing) and the
// operations' x-zbus.
func (r *sectionReader) readZbus(sec map[string]any) (*ZbusConfig, error) {
	c := &ZbusConfig{Redis: DefaultZbusRedis, Concurrency: DefaultConcurrency}
	node := &ExecConfig{Mode: ModeHTTP, Workers: DefaultWorkers, Timeout: DefaultTimeout, StartTimeout: DefaultStartTimeout}
	for _, key := range sortedKeys(sec) {
		at := []string{"x-funcatron", "zbus", key}
		var err error
		if set, ok := zbusSetters[key]; ok {
			err = set(c, sec[key])
		} else if zbusNodeKeys[key] {
			err = execSetters[key](node, sec[key])
		} else {
			return nil, r.m.errorf(at, "unknown key %q in x-funcatron.zbus", key)
		}
		if key == "endpoints" && err != nil || err != nil && !r.deferred(sec[key]) {
			return nil, r.m.errorf(at, "x-funcatron.zbus.%s %v", key, err)
		}
	}
	if err := r.checkZbus(c, node, sec); err != nil {
		return nil, err
	}
	var err error
	c.Routes, err = r.readZbusRoutes()
	return c, err
}

// checkZbus checks what involves several keys: twin is given, serve needs the node, the
// node's command is a file in the bundle.
func (r *sectionReader) checkZbus(c *ZbusConfig, node *ExecConfig, sec map[string]any) error {
	if sec["twin"] == nil {
		return r.m.errorf([]string{"x-funcatron"}, "x-funcatron.zbus.twin is missing: the twin id this bundle acts as")
	}
	if node.Command == nil {
		for k := range zbusNodeKeys {
			if sec[k] != nil {
				return r.m.errorf([]string{"x-funcatron", "zbus", k}, "x-funcatron.zbus.%s configures the node, but x-funcatron.zbus.command is not set", k)
			}
		}
		if len(c.Serve) > 0 {
			return r.m.errorf([]string{"x-funcatron", "zbus", "serve"}, "x-funcatron.zbus.serve needs a node to serve the commands: set x-funcatron.zbus.command")
		}
		return nil
	}
	node.Concurrency = c.Concurrency
	c.Node = node
	if r.deferred(node.Command[0]) {
		return nil
	}
	e := r.a.resolve(node.Command[0])
	if e == nil || e.kind != kindFile {
		return r.m.errorf([]string{"x-funcatron", "zbus", "command"}, "zbus command %q is not a file in the bundle", node.Command[0])
	}
	node.file = e.name
	return nil
}

func setZbusRedis(c *ZbusConfig, v any) error {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return fmt.Errorf("must be a redis:// or rediss:// URL, not %v", fmtValue(v))
	}
	c.Redis = s
	return nil
}

// toTwin reads a twin id: a whole number from 1 to 2^32-1 (or its decimal string, as a
// mapping key is).
func toTwin(v any) (int, error) {
	n, ok := toInt(v)
	if !ok || n < 1 || n > maxTwinID {
		return 0, fmt.Errorf("must be a twin id (a whole number from 1 to %d), not %v", maxTwinID, fmtValue(v))
	}
	return n, nil
}

func setZbusTwins(c *ZbusConfig, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("must be a mapping of twin ids to base URLs, not %v", fmtValue(v))
	}
	c.Twins = make(map[int]string, len(m))
	for _, k := range sortedKeys(m) {
		id, err := toTwin(k)
		if err != nil {
			return fmt.Errorf("has the key %q, which %v", k, err)
		}
		s, _ := m[k].(string)
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%s must be an http:// or https:// base URL without query, not %v", k, fmtValue(m[k]))
		}
		c.Twins[id] = strings.TrimSuffix(s, "/")
	}
	return nil
}

func setZbusServe(c *ZbusConfig, v any) error {
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf("must be a list of {cmd, path}")
	}
	seen := map[string]bool{}
	c.Serve = nil
	for i, x := range list {
		e, ok := x.(map[string]any)
		if !ok || len(e) != 2 || e["cmd"] == nil || e["path"] == nil {
			return fmt.Errorf("entry %d must be {cmd, path} and nothing else", i+1)
		}
		cmd, err := checkZbusCmd(e["cmd"])
		if err != nil {
			return fmt.Errorf("entry %d: cmd %v", i+1, err)
		}
		p, _ := e["path"].(string)
		if !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsAny(p, "?# ") {
			return fmt.Errorf("entry %d: path must be a clean path starting with /, not %v", i+1, fmtValue(e["path"]))
		}
		if seen[cmd] {
			return fmt.Errorf("serves %q twice", cmd)
		}
		seen[cmd] = true
		c.Serve = append(c.Serve, ZbusServe{Cmd: cmd, Path: p})
	}
	return nil
}

func setZbusEndpoints(c *ZbusConfig, v any) error {
	b, ok := v.(bool)
	if !ok {
		return fmt.Errorf("must be true or false (not a prop: the endpoints are routes of the bundle, fixed at upload), not %v", fmtValue(v))
	}
	c.Endpoints = b
	return nil
}

// readZbusRoutes reads the x-zbus of every operation. An operation without x-zbus is
// answered 404 by the runner (unless it is an endpoint).
func (r *sectionReader) readZbusRoutes() (map[string]ZbusRoute, error) {
	ops, err := r.m.operations()
	if err != nil {
		return nil, err
	}
	routes := map[string]ZbusRoute{}
	for _, op := range ops {
		raw := r.m.rawAt(op.keys)
		x, ok := raw["x-zbus"]
		if !ok {
			continue
		}
		at := append(op.keys[:len(op.keys):len(op.keys)], "x-zbus")
		if op.OperationID == "" {
			return nil, r.m.errorf(at, "x-zbus of %s %s needs an operationId", op.Method, op.Path)
		}
		route, err := readZbusRoute(x)
		if err != nil {
			return nil, r.m.errorf(at, "x-zbus of %s %s %v", op.Method, op.Path, err)
		}
		routes[op.OperationID] = route
	}
	return routes, nil
}

// rawAt returns the mapping at keys of the manifest (nil when it is not one).
func (m *manifest) rawAt(keys []string) map[string]any {
	var v any = m.doc
	for _, k := range keys {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	mm, _ := v.(map[string]any)
	return mm
}

// readZbusRoute reads one x-zbus mapping.
func readZbusRoute(v any) (ZbusRoute, error) {
	rt := ZbusRoute{Exp: DefaultZbusExp, Try: DefaultZbusTry}
	m, ok := v.(map[string]any)
	if !ok {
		return rt, fmt.Errorf("must be a mapping {cmd, dst, exp, try}")
	}
	for _, k := range sortedKeys(m) {
		var err error
		switch k {
		case "cmd":
			rt.Cmd, err = checkZbusCmd(m[k])
		case "dst":
			rt.Dst, err = toDst(m[k])
		case "exp":
			rt.Exp, err = boundedInt(m[k], 1, maxZbusExp)
		case "try":
			rt.Try, err = boundedInt(m[k], 0, maxZbusTry)
		default:
			err = fmt.Errorf("has the unknown key %q (want cmd, dst, exp, try)", k)
		}
		if err != nil {
			return rt, fmt.Errorf("%s %v", k, err)
		}
	}
	if rt.Cmd == "" || rt.Dst == nil {
		return rt, fmt.Errorf("needs cmd and dst")
	}
	return rt, nil
}

// toDst reads a list of 1 to 64 distinct twin ids.
func toDst(v any) ([]int, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 || len(list) > maxZbusDst {
		return nil, fmt.Errorf("must be a list of 1 to %d twin ids", maxZbusDst)
	}
	dst := make([]int, 0, len(list))
	seen := map[int]bool{}
	for _, x := range list {
		id, err := toTwin(x)
		if err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("names twin %d twice", id)
		}
		seen[id] = true
		dst = append(dst, id)
	}
	return dst, nil
}

// boundedInt reads a whole number within [lo, hi].
func boundedInt(v any, lo, hi int) (int, error) {
	n, ok := toInt(v)
	if !ok || n < lo || n > hi {
		return 0, fmt.Errorf("must be a whole number from %d to %d, not %v", lo, hi, fmtValue(v))
	}
	return n, nil
}

// addZbusEndpoints adds the /zbus-* operations of a bundle with endpoints: true, so its
// router dispatches them. A manifest that has those paths or operationIds already is
// refused.
func (b *Bundle) addZbusEndpoints() error {
	if b.Zbus == nil || !b.Zbus.Endpoints {
		return nil
	}
	for _, id := range ZbusEndpoints {
		for _, op := range b.Operations {
			if op.OperationID == id || op.Path == "/"+id {
				return b.man.errorf([]string{"paths", op.Path}, "%s %s clashes with the endpoint POST /%s that x-funcatron.zbus.endpoints adds", op.Method, op.Path, id)
			}
		}
		b.Operations = append(b.Operations, Operation{Method: "POST", Path: "/" + id, OperationID: id})
	}
	var err error
	b.router, err = newRouter(b.BasePath, b.Operations)
	return err
}
