package gilmour

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/funcatron/funcatron/bundles"
)

// fakeTopics answer requests in the combinator tests (logic only; the Redis path is
// TestCompositionThroughRedis): "ok" echoes its input with 200, "inc" adds 1, "fail"
// answers 500, "nf" 404, "none" has no listeners.
func fakeTopics(calls *[]string, mu *sync.Mutex) requestFunc {
	return func(_ context.Context, topic string, data json.RawMessage) (result, error) {
		mu.Lock()
		*calls = append(*calls, topic+"<"+string(data))
		mu.Unlock()
		switch topic {
		case "inc":
			var n int
			json.Unmarshal(data, &n)
			b, _ := json.Marshal(n + 1)
			return result{Data: b, Code: 200}, nil
		case "fail":
			return result{Data: stringData("boom"), Code: 500}, nil
		case "nf":
			return result{Data: stringData("nf"), Code: 404}, nil
		case "none":
			return result{}, noListeners(topic)
		}
		return result{Data: data, Code: 200}, nil
	}
}

func TestCombinators(t *testing.T) {
	tests := []struct {
		name  string
		spec  string // JSON composition
		input string
		calls []string // topic<input of each request, in order
		code  int
		data  string
		msgs  int
	}{
		{"step merges its message over a map", `{"topic":"ok","message":{"k":1}}`, `{"a":2,"k":0}`,
			[]string{`ok<{"a":2,"k":1}`}, 200, `{"a":2,"k":1}`, 1},
		{"step message over a non-map replaces it", `{"topic":"ok","message":{"k":1}}`, `5`,
			[]string{`ok<{"k":1}`}, 200, `{"k":1}`, 1},
		{"pipe chains", `{"pipe":[{"topic":"inc"},{"topic":"inc"},{"topic":"inc"}]}`, `1`,
			[]string{"inc<1", "inc<2", "inc<3"}, 200, `4`, 3},
		{"pipe stops at the first failure", `{"pipe":[{"topic":"inc"},{"topic":"fail"},{"topic":"inc"}]}`, `1`,
			[]string{"inc<1", "fail<2"}, 500, `"boom"`, 2},
		{"andand gives every step the input", `{"andand":[{"topic":"inc"},{"topic":"inc"}]}`, `1`,
			[]string{"inc<1", "inc<1"}, 200, `2`, 2},
		{"andand stops at the first failure", `{"andand":[{"topic":"nf"},{"topic":"inc"}]}`, `1`,
			[]string{"nf<1"}, 404, `"nf"`, 1},
		{"oror that fails then succeeds is a success", `{"oror":[{"topic":"fail"},{"topic":"inc"},{"topic":"inc"}]}`, `1`,
			[]string{"fail<1", "inc<1"}, 200, `2`, 2},
		{"oror of failures is the last failure", `{"oror":[{"topic":"fail"},{"topic":"nf"}]}`, `1`,
			[]string{"fail<1", "nf<1"}, 404, `"nf"`, 2},
		{"batch ignores errors, result is the last step", `{"batch":[{"topic":"fail"},{"topic":"inc"}]}`, `1`,
			[]string{"fail<1", "inc<1"}, 200, `2`, 2},
		{"batch ending in a failure", `{"batch":[{"topic":"inc"},{"topic":"fail"}]}`, `1`,
			[]string{"inc<1", "fail<1"}, 500, `"boom"`, 2},
		{"no listeners is a 503 step", `{"pipe":[{"topic":"none"},{"topic":"inc"}]}`, `1`,
			[]string{"none<1"}, 503, `"no active listeners for none"`, 1},
		{"nested", `{"pipe":[{"topic":"inc"},{"andand":[{"topic":"inc"},{"topic":"ok","message":{"k":1}}]}]}`, `1`,
			[]string{"inc<1", "inc<2", `ok<{"k":1}`}, 200, `{"k":1}`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			var mu sync.Mutex
			o := runSpec(t, tt.spec, tt.input, fakeTopics(&calls, &mu))
			if strings.Join(calls, " ") != strings.Join(tt.calls, " ") {
				t.Errorf("calls %v, want %v", calls, tt.calls)
			}
			if o.final.Code != tt.code || string(o.final.Data) != tt.data || len(o.messages) != tt.msgs {
				t.Errorf("result %d %s with %d messages, want %d %s with %d", o.final.Code, o.final.Data, len(o.messages), tt.code, tt.data, tt.msgs)
			}
		})
	}
}

func TestParallel(t *testing.T) {
	var calls []string
	var mu sync.Mutex
	o := runSpec(t, `{"parallel":[{"topic":"inc"},{"topic":"fail"},{"topic":"ok"}]}`, `1`, fakeTopics(&calls, &mu))
	sort.Strings(calls)
	if strings.Join(calls, " ") != "fail<1 inc<1 ok<1" {
		t.Errorf("calls %v: every step gets the input", calls)
	}
	var datas []json.RawMessage
	json.Unmarshal(o.final.Data, &datas)
	if o.final.Code != 500 || len(datas) != 3 || len(o.messages) != 3 {
		t.Errorf("result %d %s with %d messages, want the max code 500 and 3 of each", o.final.Code, o.final.Data, len(o.messages))
	}
}

func runSpec(t *testing.T, spec, input string, req requestFunc) outcome {
	t.Helper()
	var v any
	json.Unmarshal([]byte(spec), &v)
	c, err := bundles.ParseComposition(v)
	if err != nil {
		t.Fatal(err)
	}
	return compose(context.Background(), req, c, json.RawMessage(input))
}
