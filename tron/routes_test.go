package tron

import (
	"testing"

	"github.com/funcatron/funcatron/internal/protocol"
)

func TestRouteTableOrder(t *testing.T) {
	tests := []struct {
		name    string
		enabled []enabledBundle
		want    []string // shas in table order
	}{
		{"empty", nil, []string{}},
		{"longest path first", []enabledBundle{
			{SHA: "a", Path: "/", Seq: 1}, {SHA: "b", Path: "/api/v2", Seq: 2}, {SHA: "c", Path: "/api", Seq: 3},
		}, []string{"b", "c", "a"}},
		{"equal length: most recently enabled first", []enabledBundle{
			{SHA: "old", Host: "a.com", Path: "/api", Seq: 1}, {SHA: "new", Host: "b.com", Path: "/api", Seq: 7},
			{SHA: "mid", Path: "/xyz", Seq: 4},
		}, []string{"new", "mid", "old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := routeTable(tt.enabled, nil)
			got := []string{}
			for _, r := range table {
				got = append(got, r.SHA)
				if r.Queue != protocol.RouteQueue(r.Host, r.Path) {
					t.Errorf("entry %s: queue %s, want RouteQueue(%q, %q)", r.SHA, r.Queue, r.Host, r.Path)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("routeTable = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("routeTable = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestRouteKey(t *testing.T) {
	tests := []struct {
		name      string
		h1, p1    string
		h2, p2    string
		sameOwner bool
	}{
		{"same", "example.com", "/api", "example.com", "/api", true},
		{"host case and port", "Example.COM:8080", "/api", "example.com", "/api", true},
		{"star is any host", "*", "/api", "", "/api", true},
		{"trailing slash", "", "/api/", "", "/api", true},
		{"root", "", "/", "", "", true},
		{"other path", "", "/api", "", "/apix", false},
		{"other host", "a.com", "/api", "b.com", "/api", false},
		{"any host vs one host", "", "/api", "a.com", "/api", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := routeKey(tt.h1, tt.p1) == routeKey(tt.h2, tt.p2); got != tt.sameOwner {
				t.Errorf("routeKey(%q,%q) == routeKey(%q,%q) is %v, want %v", tt.h1, tt.p1, tt.h2, tt.p2, got, tt.sameOwner)
			}
		})
	}
}
