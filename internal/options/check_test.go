package options

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestBoundsRule: the one rule of both daemons (package doc): a bound, period or timeout
// must be positive, a grace or linger must not be negative; zero is never "the default".
func TestBoundsRule(t *testing.T) {
	tests := []struct {
		name  string
		check func(*Problems)
		want  string // "" : no problem
	}{
		{"positive duration", func(p *Problems) { Positive(p, "--heartbeat-period", time.Second) }, ""},
		{"zero duration", func(p *Problems) { Positive(p, "--heartbeat-period", time.Duration(0)) }, "--heartbeat-period 0s: must be positive"},
		{"negative size", func(p *Problems) { Positive(p, "--max-bundle-bytes", int64(-1)) }, "--max-bundle-bytes -1: must be positive"},
		{"zero count", func(p *Problems) { Positive(p, "--max-batch", 0) }, "--max-batch 0: must be positive"},
		{"zero grace", func(p *Problems) { NotNegative(p, "--stop-grace", time.Duration(0)) }, ""},
		{"negative linger", func(p *Problems) { NotNegative(p, "--disable-linger", -time.Second) }, "--disable-linger -1s: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Problems
			tt.check(&p)
			err := p.Err()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no problem", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid)):
				t.Errorf("got %v, want %q wrapping ErrInvalid", err, tt.want)
			}
		})
	}
}

// TestListen: a listen address is host:port (both daemons' --listen).
func TestListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:4000": true, ":0": true, "[::1]:3000": true, "localhost:80": true,
		"localhost": false, "": false, "127.0.0.1:http": false, "127.0.0.1:70000": false, "127.0.0.1:-1": false,
	} {
		var p Problems
		p.Listen(addr)
		if got := p.Err() == nil; got != ok {
			t.Errorf("Listen(%q): %v, want ok=%v", addr, p.Err(), ok)
		}
		if !ok && p.Err() != nil && !strings.Contains(p.Err().Error(), "--listen") {
			t.Errorf("Listen(%q): %v does not name --listen", addr, p.Err())
		}
	}
}
