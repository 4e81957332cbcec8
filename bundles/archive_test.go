package bundles

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestCountedReader checks that a limit stops the copy exactly at the limit.
func TestCountedReader(t *testing.T) {
	tests := []struct {
		name             string
		ratioCap, budget uint64
		wantN            int64
		wantOver         int
	}{
		{"within", 100, 100, 50, overNone},
		{"ratio", 10, 100, 10, overRatio},
		{"budget", 100, 5, 5, overBudget},
		{"both, ratio first", 3, 3, 3, overRatio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countedReader{r: strings.NewReader(strings.Repeat("x", 50)), ratioCap: tt.ratioCap, budget: tt.budget}
			var buf bytes.Buffer
			n, err := io.Copy(&buf, r)
			if n != tt.wantN || int64(buf.Len()) != tt.wantN || r.over != tt.wantOver {
				t.Errorf("copied %d (%d written), over %d, err %v; want %d, over %d", n, buf.Len(), r.over, err, tt.wantN, tt.wantOver)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"a/b", "a/b"},
		{"./a//b/", "a/b"},
		{"./", "."},
		{"a/./b", "a/b"},
	}
	for _, tt := range tests {
		if got, err := cleanName(tt.raw); got != tt.want || err != nil {
			t.Errorf("cleanName(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}
