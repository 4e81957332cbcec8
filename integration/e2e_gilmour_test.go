package integration

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/funcatron/funcatron/internal/testenv"
)

// e2eTestGilmour: the gilmour sample (bundles/samples/hello-gilmour) on a stack with Redis
// and two runners, every HTTP request through nginx: a request to its node's service, a
// signal its slot handles once for the bundle, a composition, a Gilmour requester on Redis
// calling the node, and the bundle's health in the Tron's /api/v1/stats.
func e2eTestGilmour(t *testing.T, env *e2eEnv) {
	s := e2eStart(t, env, e2eStackOptions{runners: 2, redis: true})
	sha := s.deploy(t, env.sample("hello-gilmour"), map[string]any{"redis": s.Redis.URL(), "greeting": "Howdy"})
	q := s.queueOf(t, sha)
	s.waitRunnersServing(t, q, 2)
	testenv.WaitFor(t, 5*e2eHeartbeat+5*time.Second, "status ok from both runners in /api/v1/stats", func() bool {
		ok := 0
		for _, n := range s.stats(t).Network {
			if slices.ContainsFunc(n.Routes, func(r e2eRoute) bool { return r.SHA == sha && r.Status == "ok" }) {
				ok++
			}
		}
		return ok == 2
	})

	r := s.front(t, "POST", "/gilmour/greet", "", []byte(`{"name":"bob"}`), nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"greeting":"Howdy, bob!"`) || !strings.HasSuffix(string(r.body), `"code":200}],"code":200,"length":1}`) {
		t.Errorf("greet: %s", r)
	}
	r = s.front(t, "POST", "/gilmour/event", "", []byte(`{"id":1}`), nil)
	if r.status != 202 || string(r.body) != `{"receivers":2}` {
		t.Errorf("event: %s, want 202 delivered to both runners", r)
	}
	r = s.front(t, "POST", "/gilmour/twice", "", []byte(`"ann"`), nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"greeting":"HOWDY, ANN!"`) || !strings.HasSuffix(string(r.body), `"length":2}`) {
		t.Errorf("twice: %s", r)
	}

	rdb := redis.NewClient(&redis.Options{Addr: s.Redis.Addr()})
	defer rdb.Close()
	if data := e2eGilmourRequest(t, rdb, "hello.greet", `{"name":"eve"}`); !strings.Contains(data, `"greeting":"Howdy, eve!"`) {
		t.Errorf("hello.greet through Redis: %s", data)
	}

	// The slot has no group: once per bundle, not once per runner (the node logs each).
	events := func() int {
		n := 0
		for _, rn := range s.Runners {
			b, _ := os.ReadFile(rn.LogPath)
			n += strings.Count(string(b), "event hello.events.created")
		}
		return n
	}
	testenv.WaitFor(t, 10*time.Second, "the signal handled", func() bool { return events() >= 1 })
	s.front(t, "POST", "/gilmour/greet", "", []byte(`"x"`), nil) // a round trip for a duplicate to show
	if n := events(); n != 1 {
		t.Errorf("the signal was handled %d times by the two runners, want once", n)
	}
}

// e2eGilmourRequest is a Gilmour requester from the public protocol: subscribe to the
// response channel, publish {data, code, sender}, read the first response's data.
func e2eGilmourRequest(t *testing.T, rdb *redis.Client, topic, data string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sender := uuid.NewString()
	ps := rdb.Subscribe(ctx, "gilmour.response."+sender)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	rdb.Publish(ctx, "gilmour.request."+topic, `{"data":`+data+`,"code":200,"sender":"`+sender+`"}`)
	m, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("no response to %s: %v", topic, err)
	}
	var env struct {
		Data json.RawMessage
		Code int
	}
	if json.Unmarshal([]byte(m.Payload), &env) != nil || env.Code != 200 {
		t.Errorf("response %s", m.Payload)
	}
	return string(env.Data)
}
