package protocol

import "testing"

func TestRouteQueue(t *testing.T) {
	tests := []struct{ host, path, want string }{
		{"", "/api", "ch8NQk38yRVeiOo2"},
		{"", "/sample/java", "lyPwPnarP5wfYF4i"},
		{"example.com", "/api", "n8rrPBeJC25DePU6"},
	}
	for _, tt := range tests {
		if got := RouteQueue(tt.host, tt.path); got != tt.want {
			t.Errorf("RouteQueue(%q, %q) = %q, want %q", tt.host, tt.path, got, tt.want)
		}
	}
}
