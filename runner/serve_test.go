package runner

import "testing"

func TestBelow(t *testing.T) {
	for _, tt := range []struct{ uri, base, want string }{
		{"/api/x", "/api", "/x"}, {"/api", "/api", "/"}, {"/x", "/", "/x"}, {"/", "/", "/"},
	} {
		if got := below(tt.uri, tt.base); got != tt.want {
			t.Errorf("below(%q, %q) = %q, want %q", tt.uri, tt.base, got, tt.want)
		}
	}
}
