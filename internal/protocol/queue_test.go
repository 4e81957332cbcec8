package protocol

import (
	"strings"
	"testing"
)

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

// TestEnableQueueType: queue-type travels in enable in both codecs, and an enable without it
// (an older Tron) means classic.
func TestEnableQueueType(t *testing.T) {
	for _, c := range []Codec{EDN, JSON} {
		body, err := Encode(c, &Enable{SHA: "s", QueueType: QueueQuorum})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "queue-type") {
			t.Errorf("%s: no queue-type in %s", c, body)
		}
		m, err := Decode(string(c), body)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.(*Enable).QueueType; got != QueueQuorum {
			t.Errorf("%s: decoded queue-type %q, want quorum", c, got)
		}
	}
	m, err := Decode(string(JSON), []byte(`{"action":"enable","msg-id":"x","at":1,"sha":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if qt, ok := ParseQueueType(string(m.(*Enable).QueueType)); !ok || qt != QueueClassic {
		t.Errorf("an enable without queue-type is %q, %v; want classic", qt, ok)
	}
	if _, ok := ParseQueueType("stream"); ok {
		t.Error("ParseQueueType accepted stream")
	}
}
