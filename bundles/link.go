// Symlinks inside a bundle: which are allowed, and where they lead.

package bundles

import (
	"errors"
	"path"
	"strings"
)

// Bounds on link resolution, so that a crafted archive cannot make the check
// itself expensive. maxLinkSteps counts path elements walked over all links.
const maxLinkSteps = 1 << 20

var (
	errLeaves   = errors.New("leads outside the bundle")
	errLinkLoop = errors.New("is part of a symlink loop")
	errTooDeep  = errors.New("is nested too deeply to check")
)

// A bundle may hold relative symlinks that stay inside it, such as
// lib/libfoo.so -> libfoo.so.1 or bin/tool -> ../libexec/tool. Where a link
// leads is worked out as the kernel would, through the archive's own links
// (a lexical check alone would let x -> l/.. escape when l is a link to a
// directory). Absolute targets, targets that climb above the bundle root, and
// loops are refused. Unpack creates links only after every file is written,
// and through os.Root, so no file is ever written through a link.

// resolver resolves paths through the archive's links, remembering each
// link's real target.
type resolver struct {
	a     *archive
	done  map[string]string // link name -> real path it leads to ("" = root)
	busy  map[string]bool   // links being resolved, to spot loops
	steps int
}

func newResolver(a *archive) *resolver {
	return &resolver{a: a, done: map[string]string{}, busy: map[string]bool{}}
}

// checkLinks refuses any link that leads outside the bundle or loops.
func (a *archive) checkLinks() error {
	r := newResolver(a)
	for _, e := range a.files {
		if e.kind != kindLink {
			continue
		}
		if e.target == "" || strings.ContainsRune(e.target, 0) {
			return invalidf("symlink %q has an empty or invalid target", e.name)
		}
		if path.IsAbs(e.target) {
			return invalidf("symlink %q points to the absolute path %q", e.name, e.target)
		}
		if _, err := r.link(e); err != nil {
			return invalidf("symlink %q -> %q %v", e.name, e.target, err)
		}
	}
	return nil
}

// resolve returns the entry that name (relative to the root) really is,
// following links, or nil when there is none or name leads outside.
func (a *archive) resolve(name string) *entry {
	real, err := newResolver(a).walk("", name)
	if err != nil {
		return nil
	}
	return a.entries[real]
}

// link returns the real path the link e leads to.
func (r *resolver) link(e *entry) (string, error) {
	if real, ok := r.done[e.name]; ok {
		return real, nil
	}
	if r.busy[e.name] {
		return "", errLinkLoop
	}
	if path.IsAbs(e.target) {
		return "", errLeaves
	}
	r.busy[e.name] = true
	real, err := r.walk(dirName(e.name), e.target)
	delete(r.busy, e.name)
	if err != nil {
		return "", err
	}
	r.done[e.name] = real
	return real, nil
}

// walk follows rel from the real directory cur. Elements that are not in the
// archive are taken as they are: the kernel would fail on them, not escape.
func (r *resolver) walk(cur, rel string) (string, error) {
	for _, el := range strings.Split(rel, "/") {
		if r.steps++; r.steps > maxLinkSteps {
			return "", errTooDeep
		}
		switch el {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", errLeaves
			}
			cur = dirName(cur)
			continue
		}
		next := joinName(cur, el)
		e := r.a.entries[next]
		if e == nil || e.kind != kindLink {
			cur = next
			continue
		}
		real, err := r.link(e)
		if err != nil {
			return "", err
		}
		cur = real
	}
	return cur, nil
}

// dirName is the parent of a clean relative name, "" for the root.
func dirName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

// joinName appends an element to a clean relative name ("" is the root).
func joinName(dir, el string) string {
	if dir == "" {
		return el
	}
	return dir + "/" + el
}
