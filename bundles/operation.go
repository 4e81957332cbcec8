// The bundle's operations: the manifest's paths × methods.

package bundles

import (
	"sort"
	"strings"
)

// Operation is one operation of a bundle: a method on a path template. The
// JSON names are those the Tron reports from add_func.
type Operation struct {
	Method      string `json:"method"`      // upper case, e.g. "GET"
	Path        string `json:"path"`        // the template as written under paths, e.g. "/greet/{name}"
	OperationID string `json:"operationId"` // "" when the manifest gives none
}

// methods are the operation keys of a Swagger/OpenAPI path item, upper-cased,
// in the order Allow lists them.
var methods = [...]string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}

// methodIndex returns the index of m in methods, or -1. HTTP methods are
// case-sensitive, so "get" is not GET.
func methodIndex(m string) int {
	switch m {
	case "DELETE":
		return 0
	case "GET":
		return 1
	case "HEAD":
		return 2
	case "OPTIONS":
		return 3
	case "PATCH":
		return 4
	case "POST":
		return 5
	case "PUT":
		return 6
	case "TRACE":
		return 7
	}
	return -1
}

// located is an operation with the manifest keys it came from, for errors.
type located struct {
	Operation
	keys []string
}

// operations lists the manifest's operations sorted by path, then method.
// An operation without an operationId is kept (a bundle of kind exec routes
// on the path itself), but at least one must have one and no two may share
// one (spec/bundles.md §2). Keys of a path item that are not methods
// (parameters, summary, x-...) are skipped; method keys are matched without
// regard to case.
func (m *manifest) operations() ([]located, error) {
	raw := m.doc["paths"]
	paths, ok := raw.(map[string]any)
	if raw != nil && !ok {
		return nil, m.errorf([]string{"paths"}, "paths is not a mapping")
	}
	var ops []located
	for _, p := range sortedKeys(paths) {
		more, err := m.pathOperations(p, paths[p])
		if err != nil {
			return nil, err
		}
		ops = append(ops, more...)
	}
	sort.SliceStable(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops, m.checkIDs(ops)
}

// pathOperations lists the operations of one path item.
func (m *manifest) pathOperations(p string, raw any) ([]located, error) {
	at := []string{"paths", p}
	if strings.HasPrefix(p, "x-") || raw == nil {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, m.errorf(at, "path %q does not start with /", p)
	}
	item, ok := raw.(map[string]any)
	if !ok {
		return nil, m.errorf(at, "path %q is not a mapping of methods", p)
	}
	var ops []located
	for _, key := range sortedKeys(item) {
		method := strings.ToUpper(key)
		if methodIndex(method) < 0 {
			continue
		}
		keys := []string{"paths", p, key}
		id, err := m.operationID(keys, item[key])
		if err != nil {
			return nil, err
		}
		ops = append(ops, located{Operation{Method: method, Path: p, OperationID: id}, keys})
	}
	return ops, nil
}

// operationID reads the operationId of an operation object.
func (m *manifest) operationID(keys []string, raw any) (string, error) {
	if raw == nil {
		return "", nil
	}
	op, ok := raw.(map[string]any)
	if !ok {
		return "", m.errorf(keys, "%s %s is not a mapping", strings.ToUpper(keys[2]), keys[1])
	}
	switch id := op["operationId"].(type) {
	case nil:
		return "", nil
	case string:
		return id, nil
	}
	return "", m.errorf(append(keys, "operationId"), "operationId of %s %s is not a string", strings.ToUpper(keys[2]), keys[1])
}

// checkIDs refuses operations without any operationId, or sharing one.
func (m *manifest) checkIDs(ops []located) error {
	seen := make(map[string]located, len(ops))
	for _, op := range ops {
		if op.OperationID == "" {
			continue
		}
		if prev, dup := seen[op.OperationID]; dup {
			return m.errorf(append(op.keys, "operationId"), "operationId %q is used by both %s %s and %s %s",
				op.OperationID, prev.Method, prev.Path, op.Method, op.Path)
		}
		seen[op.OperationID] = op
	}
	if len(seen) == 0 {
		return m.errorf([]string{"paths"}, "no operation has an operationId")
	}
	return nil
}
