package gilmour

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// checkRecord checks an error record of a "fail" request with data "x" from sender.
func checkRecord(t testing.TB, raw, sender string) {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		t.Fatalf("record %q: %v", raw, err)
	}
	ts, _ := rec["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Errorf("timestamp %q: %v", ts, err)
	}
	delete(rec, "timestamp")
	want := `{"backtrace":"","code":500,"multi_process":false,"request_data":"x","sender":"` + sender + `","topic":"fail","user_data":{"why":"broken"}}`
	if got := toJSON(rec); got != want {
		t.Errorf("record %s\nwant     %s", got, want)
	}
	if !strings.HasPrefix(raw, `{"topic":`) {
		t.Errorf("record %s: fields not in the Go library's order", raw)
	}
}

func TestErrorPolicyQueue(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	startNode(t, r, t.TempDir(), "a") // policy queue
	ctx := context.Background()
	p := rdb.Pipeline()
	for range errorQueueMax {
		p.LPush(ctx, errorQueueKey, "old")
	}
	p.Exec(ctx)
	got, _, ok := request(t, rdb, "gilmour.request.fail", peerMsg{Data: "x", Code: 200, Sender: "s-1"}, 5*time.Second)
	if !ok || got.Code != 500 {
		t.Fatalf("fail: %+v", got)
	}
	testenv.WaitFor(t, 5*time.Second, "the record queued", func() bool {
		top, _ := rdb.LIndex(ctx, errorQueueKey, 0).Result()
		return top != "old"
	})
	top, _ := rdb.LIndex(ctx, errorQueueKey, 0).Result()
	checkRecord(t, top, "s-1")
	if n, _ := rdb.LLen(ctx, errorQueueKey).Result(); n != errorQueueMax {
		t.Errorf("queue length %d, want trimmed to %d", n, errorQueueMax)
	}
	// A success is not reported.
	request(t, rdb, "gilmour.request.echo", peerMsg{Data: "x", Code: 200}, 5*time.Second)
	if top2, _ := rdb.LIndex(ctx, errorQueueKey, 0).Result(); top2 != top {
		t.Errorf("a 200 was reported: %s", top2)
	}
}

func TestErrorPolicyPublish(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	startWith(t, nodeManifest, map[string]any{"redis": r.URL(), "marks": t.TempDir(), "name": "a", "policy": "publish"})
	ps := rdb.Subscribe(context.Background(), errorsChannel)
	defer ps.Close()
	ps.Receive(context.Background())
	request(t, rdb, "gilmour.request.fail", peerMsg{Data: "x", Code: 200, Sender: "s-2"}, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkRecord(t, m.Payload, "s-2")
}

// TestErrorPolicyIgnore: a 500 and a node timeout (499) are answered, and neither is
// published on gilmour.errors nor queued. Once the node's calls are over (each reports
// before it ends), a sentinel published on gilmour.errors is the sync point: anything
// that arrives before it is a record the policy should have kept back.
func TestErrorPolicyIgnore(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startWith(t, nodeManifest, map[string]any{"redis": r.URL(), "marks": t.TempDir(), "name": "a", "policy": "ignore"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps := rdb.Subscribe(ctx, errorsChannel)
	defer ps.Close()
	ps.Receive(ctx)
	if got, _, ok := request(t, rdb, "gilmour.request.fail", peerMsg{Data: "x", Code: 200}, 5*time.Second); !ok || got.Code != 500 {
		t.Fatalf("fail: %+v", got)
	}
	if got, _, ok := request(t, rdb, "gilmour.request.slow", peerMsg{Data: "x", Code: 200}, 5*time.Second); !ok || got.Code != 499 {
		t.Fatalf("slow: %+v", got)
	}
	testenv.WaitFor(t, 5*time.Second, "the node's calls over", func() bool { return len(in.node.sem) == 0 })
	const sentinel = "sentinel-after-the-failures"
	rdb.Publish(ctx, errorsChannel, sentinel)
	for {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("waiting for the sentinel: %v", err)
		}
		if m.Payload == sentinel {
			break
		}
		t.Errorf("policy ignore published %s", m.Payload)
	}
	if n, _ := rdb.LLen(ctx, errorQueueKey).Result(); n != 0 {
		t.Errorf("queue has %d records", n)
	}
}
