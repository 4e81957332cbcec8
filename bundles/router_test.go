package bundles

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
)

// routerOf builds a router over "METHOD /path id" operations.
func routerOf(t testing.TB, base string, ops ...Operation) *Router {
	t.Helper()
	r, err := newRouter(base, ops)
	if err != nil {
		t.Fatalf("newRouter: %v", err)
	}
	return r
}

func TestRouterMatch(t *testing.T) {
	ops := []Operation{
		{"GET", "/", "root"},
		{"GET", "/greet/{name}", "greet"},
		{"GET", "/greet/me", "greetMe"},
		{"POST", "/greet/{name}", "greetPost"},
		{"GET", "/files/{id}.json", "fileJSON"},
		{"GET", "/files/v{id}", "fileV"},
		{"GET", "/files/{id}", "file"},
		{"GET", "/users/{uid}/posts/{pid}", "post"},
		{"POST", "/a/b", "abPost"},
		{"GET", "/a/{x}", "ax"},
		{"DELETE", "/a/{x}/c", "axc"},
		{"GET", "/{any}/c", "anyc"},
		{"PATCH", "/{any}/c", "anycPatch"},
		{"PUT", "/slash/", "slash"},
	}
	r := routerOf(t, "/api", ops...)
	tests := []struct {
		method, uri string
		id          string  // "" when no match
		params      []Param // nil when none
		status      int
		allow       []string
	}{
		{"GET", "/api", "root", nil, 0, nil},
		{"GET", "/api/", "root", nil, 0, nil},
		{"GET", "/api/greet/bob", "greet", []Param{{"name", "bob"}}, 0, nil},
		{"GET", "/api/greet/bob/", "greet", []Param{{"name", "bob"}}, 0, nil},
		{"POST", "/api/greet/bob", "greetPost", []Param{{"name", "bob"}}, 0, nil},
		{"GET", "/api/greet/me", "greetMe", nil, 0, nil},
		{"POST", "/api/greet/me", "greetPost", []Param{{"name", "me"}}, 0, nil}, // literal lacks POST: falls back
		{"GET", "/api/files/7.json", "fileJSON", []Param{{"id", "7"}}, 0, nil},
		{"GET", "/api/files/v7", "fileV", []Param{{"id", "7"}}, 0, nil},
		{"GET", "/api/files/7", "file", []Param{{"id", "7"}}, 0, nil},
		{"GET", "/api/files/.json", "file", []Param{{"id", ".json"}}, 0, nil}, // empty value: not the pattern
		{"GET", "/api/users/1/posts/2", "post", []Param{{"uid", "1"}, {"pid", "2"}}, 0, nil},
		{"GET", "/api/a/b", "ax", []Param{{"x", "b"}}, 0, nil},
		{"POST", "/api/a/b", "abPost", nil, 0, nil},
		{"GET", "/api/a/c", "ax", []Param{{"x", "c"}}, 0, nil},
		{"GET", "/api/b/c", "anyc", []Param{{"any", "b"}}, 0, nil},
		{"GET", "/api/a/b/c", "", nil, http.StatusMethodNotAllowed, []string{"DELETE"}},
		{"PATCH", "/api/a/c", "anycPatch", []Param{{"any", "a"}}, 0, nil},                    // backtracks from /a/{x}
		{"POST", "/api/a/c", "", nil, http.StatusMethodNotAllowed, []string{"GET", "PATCH"}}, // both templates
		{"PUT", "/api/slash", "slash", nil, 0, nil},
		{"DELETE", "/api/greet/bob", "", nil, http.StatusMethodNotAllowed, []string{"GET", "POST"}},
		{"PUT", "/api/a/b", "", nil, http.StatusMethodNotAllowed, []string{"GET", "POST"}},
		{"get", "/api/greet/bob", "", nil, http.StatusMethodNotAllowed, []string{"GET", "POST"}},
		{"HEAD", "/api/", "", nil, http.StatusMethodNotAllowed, []string{"GET"}},
		{"GET", "/api/nope", "", nil, http.StatusNotFound, nil},
		{"GET", "/api/greet", "", nil, http.StatusNotFound, nil},
		{"GET", "/api/greet//", "", nil, http.StatusNotFound, nil},
		{"GET", "/api/greet/bob/x", "", nil, http.StatusNotFound, nil},
		{"GET", "/apix/greet/bob", "", nil, http.StatusNotFound, nil},
		{"GET", "/other", "", nil, http.StatusNotFound, nil},
		{"GET", "", "", nil, http.StatusNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.uri, func(t *testing.T) {
			m, err := r.Match(tt.method, tt.uri)
			if tt.id != "" {
				if err != nil {
					t.Fatalf("Match: %v", err)
				}
				if m.Operation.OperationID != tt.id || !reflect.DeepEqual(m.Params, tt.params) {
					t.Errorf("Match = %s %v, want %s %v", m.Operation.OperationID, m.Params, tt.id, tt.params)
				}
				return
			}
			var re *RouteError
			if !errors.As(err, &re) {
				t.Fatalf("Match = %v, %v; want a *RouteError", m.Operation, err)
			}
			if re.Status != tt.status || !reflect.DeepEqual(re.Allow, tt.allow) {
				t.Errorf("RouteError = %d %v, want %d %v", re.Status, re.Allow, tt.status, tt.allow)
			}
		})
	}
}

func TestRouterRootBase(t *testing.T) {
	r := routerOf(t, "/", Operation{"GET", "/x/{id}", "x"}, Operation{"GET", "/", "root"})
	for uri, want := range map[string]string{"/": "root", "/x/1": "x", "/x/1/": "x"} {
		m, err := r.Match("GET", uri)
		if err != nil || m.Operation.OperationID != want {
			t.Errorf("Match(GET %s) = %v, %v; want %s", uri, m.Operation, err, want)
		}
	}
	if m, err := r.Match("GET", "x/1"); err == nil {
		t.Errorf("Match(GET x/1) = %v, want 404", m.Operation)
	}
}

func TestRouteErrorText(t *testing.T) {
	r := routerOf(t, "/hello", Operation{"GET", "/greet/{name}", "greet"}, Operation{"POST", "/greet/{name}", "p"})
	tests := []struct{ method, uri, want string }{
		{"GET", "/hello/x", "no operation for GET /hello/x"},
		{"DELETE", "/hello/greet/bob", "method DELETE is not allowed for /hello/greet/bob (allowed: GET, POST)"},
	}
	for _, tt := range tests {
		_, err := r.Match(tt.method, tt.uri)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Match(%s %s) error = %v, want %q", tt.method, tt.uri, err, tt.want)
		}
	}
}

func TestMatchParam(t *testing.T) {
	m := Match{Params: []Param{{"a", "1"}, {"b", "2"}}}
	if m.Param("b") != "2" || m.Param("c") != "" {
		t.Errorf("Param(b), Param(c) = %q, %q; want 2, empty", m.Param("b"), m.Param("c"))
	}
}

// benchRouter is a router the size of a real API: 50 resources with a
// collection, an item and a nested collection each.
func benchRouter(b *testing.B) *Router {
	var ops []Operation
	for i := range 50 {
		res := fmt.Sprintf("/res%d", i)
		ops = append(ops,
			Operation{"GET", res, "list" + res},
			Operation{"POST", res, "create" + res},
			Operation{"GET", res + "/{id}", "get" + res},
			Operation{"PUT", res + "/{id}", "put" + res},
			Operation{"GET", res + "/{id}/items/{item}", "item" + res},
		)
	}
	return routerOf(b, "/api", ops...)
}

func BenchmarkMatch(b *testing.B) {
	r := benchRouter(b)
	for _, bb := range []struct{ name, method, uri string }{
		{"literal", "GET", "/api/res42"},
		{"one param", "GET", "/api/res42/12345"},
		{"two params", "GET", "/api/res42/12345/items/abc"},
		{"404", "GET", "/api/nothing/here"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Match(bb.method, bb.uri)
			}
		})
	}
}
