// Kind gilmour: the x-funcatron.gilmour section and each operation's x-gilmour.

package bundles

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"
)

// ErrorPolicy is what a gilmour bundle does with each message it publishes with a code of
// 300 or more (research §1.8).
type ErrorPolicy string

const (
	ErrorsIgnore  ErrorPolicy = "ignore"  // nothing (the default, as in the Go library)
	ErrorsPublish ErrorPolicy = "publish" // PUBLISH the record on gilmour.errors
	ErrorsQueue   ErrorPolicy = "queue"   // LPUSH it on gilmour.errorqueue, LTRIM 0 9999
)

// Defaults and bounds of GilmourConfig.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultHealthCheck = "/health"
	// MaxGilmourTimeout bounds every gilmour timeout: the exclusion lock lives 600 s.
	MaxGilmourTimeout = 600 * time.Second
)

// GilmourConfig is the x-funcatron.gilmour section with defaults applied
// (spec/bundles.md §5), and the x-gilmour of every operation.
type GilmourConfig struct {
	// Redis is the redis:// (or rediss://, unix://) URL of the Gilmour bus.
	Redis string
	// Concurrency is the most HTTP requests in flight per runner. Default 32.
	Concurrency int
	// ErrorPolicy is ignore (default), publish or queue (key error_policy).
	ErrorPolicy ErrorPolicy
	// Node is the bundle's node process, nil when the bundle has none.
	Node *GilmourNode
	// Routes maps each operationId to what its x-gilmour says.
	Routes map[string]*GilmourRoute
}

// GilmourNode is the node section: a process started like exec http mode, serving the
// topics of Services and Slots at their paths.
type GilmourNode struct {
	Command      []string
	HealthCheck  string        // key health_check, default /health
	StartTimeout time.Duration // key start_timeout, default 10s
	Env          map[string]string
	Services     []Subscription
	Slots        []Subscription
}

// Subscription is one service or slot of a node (the seed's {topic, group, path, timeout}).
type Subscription struct {
	Topic   string        `json:"topic"`
	Group   string        `json:"group,omitempty"`
	Path    string        `json:"path"`
	Timeout time.Duration `json:"-"` // default 30s, at most 600s
}

// GilmourRoute is an operation's x-gilmour: exactly one of Request, Signal and Composition.
type GilmourRoute struct {
	Request     string       // the topic of a request
	Signal      string       // the topic of a signal
	Composition *Composition // a composition
	Timeout     time.Duration
}

// gilmourSetters set one field of a GilmourConfig; their errors complete
// "x-funcatron.gilmour.<key> ...".
var gilmourSetters = map[string]func(c *GilmourConfig, v any) error{
	"redis":        setRedis,
	"concurrency":  intSetter(1, maxConcurrency, func(c *GilmourConfig, n int) { c.Concurrency = n }),
	"error_policy": setErrorPolicy,
	"node":         func(*GilmourConfig, any) error { return nil }, // readNode
}

// readGilmour reads the gilmour section (nil when absent) and the operations' x-gilmour.
func (r *sectionReader) readGilmour(sec map[string]any) (*GilmourConfig, error) {
	c := &GilmourConfig{Redis: DefaultRedisURL, Concurrency: DefaultConcurrency, ErrorPolicy: ErrorsIgnore}
	for _, key := range sortedKeys(sec) {
		at := []string{"x-funcatron", "gilmour", key}
		set, ok := gilmourSetters[key]
		if !ok {
			return nil, r.m.errorf(at, "unknown key %q in x-funcatron.gilmour (want redis, concurrency, error_policy, node)", key)
		}
		if err := set(c, sec[key]); err != nil && !r.deferred(sec[key]) {
			return nil, r.m.errorf(at, "x-funcatron.gilmour.%s %v", key, err)
		}
	}
	var err error
	if c.Node, err = r.readNode(sec["node"]); err != nil {
		return nil, err
	}
	if c.Routes, err = r.gilmourRoutes(); err != nil {
		return nil, err
	}
	return c, nil
}

func setRedis(c *GilmourConfig, v any) error {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
		return fmt.Errorf("must be a redis://, rediss:// or unix:// URL, not %v", fmtValue(v))
	}
	c.Redis = s
	return nil
}

func setErrorPolicy(c *GilmourConfig, v any) error {
	p, _ := v.(string)
	switch ErrorPolicy(p) {
	case ErrorsIgnore, ErrorsPublish, ErrorsQueue:
		c.ErrorPolicy = ErrorPolicy(p)
		return nil
	}
	return fmt.Errorf("must be ignore, publish or queue, not %v", fmtValue(v))
}

// nodeKeys are the keys of the node section.
var nodeKeys = map[string]bool{
	"command": true, "health_check": true, "start_timeout": true, "env": true, "services": true, "slots": true,
}

// readNode reads x-funcatron.gilmour.node (nil when absent).
func (r *sectionReader) readNode(raw any) (*GilmourNode, error) {
	base := []string{"x-funcatron", "gilmour", "node"}
	if raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, r.m.errorf(base, "x-funcatron.gilmour.node is not a mapping")
	}
	n := &GilmourNode{HealthCheck: DefaultHealthCheck, StartTimeout: DefaultStartTimeout}
	for _, key := range sortedKeys(m) {
		at := append(base[:3:3], key)
		if !nodeKeys[key] {
			return nil, r.m.errorf(at, "unknown key %q in x-funcatron.gilmour.node", key)
		}
		if err := r.setNodeKey(n, key, m[key]); err != nil && !r.deferred(m[key]) {
			return nil, r.m.errorf(at, "x-funcatron.gilmour.node.%s %v", key, err)
		}
	}
	if n.Command == nil && !r.deferred(m["command"]) {
		return nil, r.m.errorf(base, "x-funcatron.gilmour.node needs a command")
	}
	return n, r.checkServices(n.Services, append(base[:3:3], "services"))
}

// setNodeKey sets one key of the node section.
func (r *sectionReader) setNodeKey(n *GilmourNode, key string, v any) error {
	var err error
	switch key {
	case "command":
		var c ExecConfig
		if err = setCommand(&c, v); err == nil {
			err = r.checkProgram(c.Command[0])
			n.Command = c.Command
		}
	case "health_check":
		var c ExecConfig
		err = setHealth(&c, v)
		n.HealthCheck = c.Health
	case "start_timeout":
		d, ok := toDuration(v)
		if !ok || d <= 0 {
			return fmt.Errorf("must be a positive duration such as 10s or a number of seconds, not %v", v)
		}
		n.StartTimeout = d
	case "env":
		n.Env, err = envOf(v)
	case "services", "slots":
		var subs []Subscription
		subs, err = subscriptionsOf(v, key == "slots")
		if key == "slots" {
			n.Slots = subs
		} else {
			n.Services = subs
		}
	}
	return err
}

// checkProgram checks a node command: a path (with a /) must be a file in the bundle; a
// bare name not in the bundle is looked up in PATH when the runner starts it.
func (r *sectionReader) checkProgram(prog string) error {
	if r.deferred(prog) || !strings.Contains(prog, "/") {
		return nil
	}
	if e := r.a.resolve(prog); e == nil || e.kind != kindFile {
		return fmt.Errorf("%q is not a file in the bundle", prog)
	}
	return nil
}

// checkServices refuses two services on one topic and group (as the Go library does).
func (r *sectionReader) checkServices(subs []Subscription, at []string) error {
	seen := map[[2]string]bool{}
	for i, s := range subs {
		k := [2]string{s.Topic, s.Group}
		if seen[k] {
			return r.m.errorf(append(at, fmt.Sprint(i)), "two services on topic %q in group %q", s.Topic, s.Group)
		}
		seen[k] = true
	}
	return nil
}

// subscriptionsOf reads a list of services or slots.
func subscriptionsOf(v any, slot bool) ([]Subscription, error) {
	list, ok := v.([]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("must be a list of {topic, group, path, timeout}")
	}
	subs := make([]Subscription, 0, len(list))
	for i, x := range list {
		s, err := ParseSubscription(x, slot)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %v", i, err)
		}
		subs = append(subs, s)
	}
	return subs, nil
}

// ParseSubscription reads one service (slot false) or slot {topic, group, path, timeout}
// from decoded JSON or YAML: what the manifest lists and what a node adds at run time. A
// service's topic has no wildcard and its group is mandatory (the seed); timeout is in
// seconds (or a duration such as "10s"), default 30s, at most 600s.
func ParseSubscription(v any, slot bool) (Subscription, error) {
	s := Subscription{Timeout: DefaultTimeout}
	m, ok := v.(map[string]any)
	if !ok {
		return s, fmt.Errorf("must be a mapping {topic, group, path, timeout}")
	}
	for _, k := range sortedKeys(m) {
		if err := setSubscriptionKey(&s, k, m[k]); err != nil {
			return s, err
		}
	}
	if err := CheckTopic(s.Topic, slot); err != nil {
		return s, err
	}
	switch {
	case s.Path == "":
		return s, fmt.Errorf("needs a path (the node's handler, e.g. /fib)")
	case !slot && s.Group == "":
		return s, fmt.Errorf("service %q needs a group (its exclusion group)", s.Topic)
	}
	return s, nil
}

func setSubscriptionKey(s *Subscription, k string, v any) error {
	str, _ := v.(string)
	switch k {
	case "topic":
		s.Topic = str
	case "group":
		if _, ok := v.(string); !ok || len(str) > maxTopicBytes {
			return fmt.Errorf("group must be a string of at most %d bytes", maxTopicBytes)
		}
		s.Group = str
	case "path":
		if !strings.HasPrefix(str, "/") || path.Clean(str) != str || strings.ContainsAny(str, "?# \x00") {
			return fmt.Errorf("path must be a clean path starting with /, not %v", fmtValue(v))
		}
		s.Path = str
	case "timeout":
		d, err := ParseGilmourTimeout(v)
		if err != nil {
			return err
		}
		s.Timeout = d
	default:
		return fmt.Errorf("unknown key %q (want topic, group, path, timeout)", k)
	}
	return nil
}

// ParseGilmourTimeout reads a gilmour timeout: seconds or a duration, above 0 and at most
// 600 s (the manifest's and the node proxy API's).
func ParseGilmourTimeout(v any) (time.Duration, error) {
	d, ok := toDuration(v)
	if !ok || d <= 0 || d > MaxGilmourTimeout {
		return 0, fmt.Errorf("timeout must be a number of seconds (or a duration such as 10s) above 0 and at most 600, not %v", v)
	}
	return d, nil
}

// gilmourRoutes reads the x-gilmour of every operation: each one needs an operationId and
// an x-gilmour with exactly one of request, signal and composition.
func (r *sectionReader) gilmourRoutes() (map[string]*GilmourRoute, error) {
	ops, err := r.m.operations()
	if err != nil {
		return nil, err
	}
	routes := make(map[string]*GilmourRoute, len(ops))
	for _, op := range ops {
		if op.OperationID == "" {
			return nil, r.m.errorf(op.keys, "%s %s has no operationId; every operation of a gilmour bundle needs one and an x-gilmour", op.Method, op.Path)
		}
		paths, _ := r.m.doc["paths"].(map[string]any)
		item, _ := paths[op.keys[1]].(map[string]any)
		opMap, _ := item[op.keys[2]].(map[string]any)
		rt, err := r.gilmourRoute(op, opMap["x-gilmour"])
		if err != nil {
			return nil, err
		}
		routes[op.OperationID] = rt
	}
	return routes, nil
}

// gilmourRoute reads one operation's x-gilmour.
func (r *sectionReader) gilmourRoute(op located, raw any) (*GilmourRoute, error) {
	at := append(op.keys[:3:3], "x-gilmour")
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, r.m.errorf(at, "%s %s (%s) needs an x-gilmour mapping with request, signal or composition", op.Method, op.Path, op.OperationID)
	}
	rt := &GilmourRoute{Timeout: DefaultTimeout}
	given := 0
	for _, k := range sortedKeys(m) {
		kat := append(at[:4:4], k)
		if err := r.setRouteKey(rt, k, m[k], kat); err != nil {
			return nil, err
		}
		if k != "timeout" {
			given++
		}
	}
	if given != 1 {
		return nil, r.m.errorf(at, "x-gilmour of %s needs exactly one of request, signal and composition", op.OperationID)
	}
	return rt, nil
}

// setRouteKey sets one key of an x-gilmour; at is where the key is, for errors.
func (r *sectionReader) setRouteKey(rt *GilmourRoute, k string, v any, at []string) error {
	var err error
	switch k {
	case "request", "signal":
		topic, _ := v.(string)
		if err = CheckTopic(topic, false); err == nil {
			if k == "request" {
				rt.Request = topic
			} else {
				rt.Signal = topic
			}
		}
	case "timeout":
		rt.Timeout, err = ParseGilmourTimeout(v)
	case "composition":
		c, cerr := parseComposition(v)
		if cerr != nil {
			return r.m.errorf(append(at, cerr.at...), "x-gilmour composition: %s", cerr.msg)
		}
		rt.Composition = c
	default:
		return r.m.errorf(at, "unknown key %q in x-gilmour (want request, signal, composition, timeout)", k)
	}
	if err != nil {
		return r.m.errorf(at, "x-gilmour %s: %v", k, err)
	}
	return nil
}
