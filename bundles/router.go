// Dispatch: finding the operation for a request's method and path.

package bundles

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Router finds a bundle's operation for a request (spec/bundles.md §3). It
// is built once per bundle and is safe for concurrent use.
//
// Matching rules:
//   - The request path must start with the base path at a segment boundary
//     (/api matches /api and /api/x, not /apix); the rest is matched against
//     the templates. An empty rest is "/".
//   - One trailing slash is ignored on both sides: /greet/bob/ matches
//     /greet/{name}, and a template /greet/ is /greet.
//   - {name} matches one non-empty segment; "{id}.json" matches a segment
//     with that prefix and suffix around a non-empty value.
//   - At each segment a literal wins over a parameter with a prefix or
//     suffix (longest literal part first), which wins over a bare {name}. If
//     the preferred branch has no operation for the method, the next is tried,
//     so GET /a/b reaches GET /a/{x} when /a/b only has POST.
//   - Nothing matches the path: 404. Some template matches the path but none
//     with the method: 405, and Allow lists every method that would have
//     matched this path.
//   - The path is matched as given: pass the decoded path without the query
//     (nginx's $uri, the "uri" of a service message). Methods are
//     case-sensitive; HEAD and OPTIONS match only when declared.
//
// Lookups walk a tree of segments built from the templates: no regular
// expressions, and no allocation except for the Params of a match.
type Router struct {
	base string // basePath without trailing slash; "" for "/"
	root node
}

// node is a point in the segment tree.
type node struct {
	literal  map[string]*node
	patterns []*pattern // sorted: longest prefix+suffix first
	wildcard *node      // {name}
	leaf     *leaf      // operations of the templates that end here
}

// pattern is a parameter segment with a literal prefix or suffix.
type pattern struct {
	prefix, suffix string
	next           *node
}

// leaf holds the operations of one template, by method.
type leaf struct {
	allow   methodSet
	targets [len(methods)]*target
}

// target is an operation and the names of its template's parameters.
type target struct {
	op    *Operation
	names []string
}

// methodSet is a set of methods, bit i being methods[i].
type methodSet uint16

// Param is a path parameter of a match: {name} and the segment it matched.
type Param struct {
	Name, Value string
}

// Match is the result of a successful lookup.
type Match struct {
	Operation *Operation
	Params    []Param // in template order; nil when there are none
}

// Param returns the value of the named path parameter, or "".
func (m Match) Param(name string) string {
	for _, p := range m.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// RouteError is Match's answer when no operation serves a request: Status
// is 404 (no template matches the path) or 405 (one does, not with this
// method; Allow lists the methods that would match). Error() is the text for
// the JSON error body, e.g. "no operation for GET /hello/x".
type RouteError struct {
	Status int
	Method string
	URI    string
	Allow  []string // for 405, sorted
}

// Error says what did not match.
func (e *RouteError) Error() string {
	if e.Status == http.StatusMethodNotAllowed {
		return fmt.Sprintf("method %s is not allowed for %s (allowed: %s)", e.Method, e.URI, strings.Join(e.Allow, ", "))
	}
	return fmt.Sprintf("no operation for %s %s", e.Method, e.URI)
}

// newRouter builds the tree for ops under basePath (already checked).
func newRouter(basePath string, ops []Operation) (*Router, error) {
	r := &Router{base: strings.TrimSuffix(basePath, "/")}
	for i := range ops {
		if err := r.add(&ops[i]); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// templateError is a bad or conflicting template; Open adds the line.
type templateError struct {
	path string
	err  error
}

func (e *templateError) Error() string { return fmt.Sprintf("path %q %v", e.path, e.err) }

// add puts one operation into the tree.
func (r *Router) add(op *Operation) error {
	segs, err := parseTemplate(op.Path)
	if err != nil {
		return &templateError{op.Path, err}
	}
	n := &r.root
	var names []string
	for _, s := range segs {
		n = n.child(s)
		if s.param {
			names = append(names, s.name)
		}
	}
	if n.leaf == nil {
		n.leaf = &leaf{}
	}
	i := methodIndex(op.Method)
	if prev := n.leaf.targets[i]; prev != nil {
		return &templateError{op.Path, fmt.Errorf("and %q are the same route for %s", prev.op.Path, op.Method)}
	}
	n.leaf.targets[i] = &target{op: op, names: names}
	n.leaf.allow |= 1 << i
	return nil
}

// child returns (creating it if needed) the child of n for segment s.
func (n *node) child(s segment) *node {
	switch {
	case !s.param:
		if n.literal == nil {
			n.literal = map[string]*node{}
		}
		if n.literal[s.lit] == nil {
			n.literal[s.lit] = &node{}
		}
		return n.literal[s.lit]
	case s.prefix == "" && s.suffix == "":
		if n.wildcard == nil {
			n.wildcard = &node{}
		}
		return n.wildcard
	}
	for _, p := range n.patterns {
		if p.prefix == s.prefix && p.suffix == s.suffix {
			return p.next
		}
	}
	p := &pattern{prefix: s.prefix, suffix: s.suffix, next: &node{}}
	n.patterns = append(n.patterns, p)
	sort.SliceStable(n.patterns, func(i, j int) bool {
		a, b := n.patterns[i], n.patterns[j]
		if la, lb := len(a.prefix)+len(a.suffix), len(b.prefix)+len(b.suffix); la != lb {
			return la > lb
		}
		return a.prefix+"{}"+a.suffix < b.prefix+"{}"+b.suffix
	})
	return p.next
}

// Match finds the operation for method and uri (the full decoded request
// path, base path included). It returns a *RouteError when there is none.
func (r *Router) Match(method, uri string) (Match, error) {
	rest, ok := r.trimBase(uri)
	if !ok {
		return Match{}, &RouteError{Status: http.StatusNotFound, Method: method, URI: uri}
	}
	var buf [8]string
	var allow methodSet
	t, vals := r.root.find(rest, methodIndex(method), buf[:0], &allow)
	if t == nil {
		return Match{}, routeError(method, uri, allow)
	}
	m := Match{Operation: t.op}
	if len(t.names) > 0 {
		m.Params = make([]Param, len(t.names))
		for i, name := range t.names {
			m.Params[i] = Param{Name: name, Value: vals[i]}
		}
	}
	return m, nil
}

// routeError is the 404 or 405 for a failed lookup.
func routeError(method, uri string, allow methodSet) *RouteError {
	if allow == 0 {
		return &RouteError{Status: http.StatusNotFound, Method: method, URI: uri}
	}
	e := &RouteError{Status: http.StatusMethodNotAllowed, Method: method, URI: uri}
	for i, m := range methods {
		if allow&(1<<i) != 0 {
			e.Allow = append(e.Allow, m)
		}
	}
	return e
}

// trimBase strips the base path and one trailing slash from uri, giving ""
// for the root or a path starting with "/". ok is false when uri is not
// under the base path.
func (r *Router) trimBase(uri string) (rest string, ok bool) {
	rest, ok = strings.CutPrefix(uri, r.base)
	switch {
	case !ok:
		return "", false
	case rest == "" || rest == "/":
		return "", true
	case rest[0] != '/':
		return "", false
	}
	return strings.TrimSuffix(rest, "/"), true
}

// find walks the tree depth first in order of preference. p is what is left
// of the path: "" at the end, else "/segment...". It returns the target for
// method index mi and the parameter values, and adds to allow the methods of
// every template that matched the whole path.
func (n *node) find(p string, mi int, vals []string, allow *methodSet) (*target, []string) {
	if p == "" {
		return n.leafTarget(mi, allow), vals
	}
	seg, rest := p[1:], ""
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, rest = seg[:i], seg[i:]
	}
	if c := n.literal[seg]; c != nil {
		if t, v := c.find(rest, mi, vals, allow); t != nil {
			return t, v
		}
	}
	if seg == "" {
		return nil, nil
	}
	for _, pt := range n.patterns {
		if len(seg) > len(pt.prefix)+len(pt.suffix) && strings.HasPrefix(seg, pt.prefix) && strings.HasSuffix(seg, pt.suffix) {
			val := seg[len(pt.prefix) : len(seg)-len(pt.suffix)]
			if t, v := pt.next.find(rest, mi, append(vals, val), allow); t != nil {
				return t, v
			}
		}
	}
	if n.wildcard != nil {
		return n.wildcard.find(rest, mi, append(vals, seg), allow)
	}
	return nil, nil
}

// leafTarget returns n's target for method index mi, noting n's methods in allow.
func (n *node) leafTarget(mi int, allow *methodSet) *target {
	if n.leaf == nil {
		return nil
	}
	*allow |= n.leaf.allow
	if mi < 0 {
		return nil
	}
	return n.leaf.targets[mi]
}
