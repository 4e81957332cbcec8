package runner

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// recordsRoute starts a runner (with mod) serving the test function on a fresh route and
// returns it, the route queue, the route's host and path, and a frontend.
func recordsRoute(t *testing.T, exec []string, mod ...func(*Options)) (*Runner, string, string, string, *frontend) {
	t.Helper()
	tr := newTron(t)
	r := startRunner(t, tr, mod...)
	host, path := uniq(t)+".example", "/rec"
	tr.enableOK(r.Inbox(), tr.upload(fnBundle(t, host, path, exec...)), host, path, nil)
	return r, protocol.RouteQueue(host, path), host, path, newFrontend(t)
}

// echoBody is the body the test function's /echo saw.
func echoBody(t *testing.T, a *protocol.Answer) string {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(a.Answer.Body, &e); err != nil {
		t.Fatalf("echo answer %q: %v", a.Answer.Body, err)
	}
	return e.Body
}

// waitAnswered waits until every id has an answer and queue holds no message (the
// runner acked what it took), and returns the answers per id.
func waitAnswered(t *testing.T, f *frontend, queue string, ids []string) map[string]int {
	t.Helper()
	var got map[string]int
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("answers to %d requests", len(ids)), func() bool {
		got, _ = f.counts()
		for _, id := range ids {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	testenv.WaitFor(t, 10*time.Second, "the route queue to be empty", func() bool { return queueMessages(t, queue) == 0 })
	got, _ = f.counts()
	return got
}

// TestRecordsAnsweredRaw: a records message of requests with raw bodies (a newline, a
// NUL, none) is answered in the records framing, raw, each request exactly once.
func TestRecordsAnsweredRaw(t *testing.T) {
	t.Parallel()
	_, queue, host, path, fe := recordsRoute(t, nil)
	bodies := []string{"", "hello", "line1\nline2\x00end", strings.Repeat("x", 70000)}
	var svcs []*protocol.Service
	for _, b := range bodies {
		svcs = append(svcs, service(host, "POST", path+"/echo", []byte(b)))
	}
	svcs = append(svcs, service(host, "GET", path+"/hello/bob", nil), service(host, "GET", path+"/empty", nil))
	ids := fe.publishRecords(queue, svcs...)
	got := waitAnswered(t, fe, queue, ids)
	for i, id := range ids {
		if got[id] != 1 {
			t.Errorf("request %d answered %d times, want once", i, got[id])
		}
		a := fe.answer(id, time.Second)
		if fe.framing[id] != protocol.FramingRecords {
			t.Errorf("request %d answered in the %s form, want records", i, fe.framing[id])
		}
		switch {
		case i < len(bodies):
			if a.Answer.Status != 200 || echoBody(t, a) != bodies[i] {
				t.Errorf("request %d: %d, the function saw %.40q, want %.40q", i, a.Answer.Status, echoBody(t, a), bodies[i])
			}
		case i == len(bodies):
			if a.Answer.Status != 200 || !strings.Contains(string(a.Answer.Body), "bob") || len(header(a, "Set-Cookie")) != 2 {
				t.Errorf("hello: %d %q %v", a.Answer.Status, a.Answer.Body, a.Answer.Headers)
			}
		default:
			if a.Answer.Status != 204 || len(a.Answer.Body) != 0 {
				t.Errorf("empty: %d %q", a.Answer.Status, a.Answer.Body)
			}
		}
	}
	// The echo's JSON follows its record's line as it is, not as a base64 string.
	if raw := string(fe.raw[ids[2]]); !strings.Contains(raw, "}}\n{\"body\":\"line1\\nline2\\u0000end\"") {
		t.Errorf("the answer's body is not raw in its message: %q", raw)
	}
}

// TestRecordsAndCatalogueOnOneRoute: raw and catalogue-form requests on one route are each
// answered in their own form: records to records, the catalogue's JSON + base64 (headers
// as the request asked) to the others.
func TestRecordsAndCatalogueOnOneRoute(t *testing.T) {
	t.Parallel()
	_, queue, host, path, fe := recordsRoute(t, nil)
	var ids, catalogue []string
	for i := range 4 {
		body := []byte("raw\x00" + strconv.Itoa(i))
		ids = append(ids, fe.publishRecords(queue, service(host, "POST", path+"/echo", body), service(host, "GET", path+"/hello/r", nil))...)
		svc := service(host, "POST", path+"/echo", []byte("b64\n"+strconv.Itoa(i)))
		if i%2 == 0 {
			svc.AnswerHeaders = protocol.AnswerHeadersPairs
		}
		catalogue = append(catalogue, fe.publish(queue, svc))
	}
	got := waitAnswered(t, fe, queue, append(append([]string{}, ids...), catalogue...))
	for i, id := range ids {
		if got[id] != 1 || fe.framing[id] != protocol.FramingRecords {
			t.Errorf("raw request %d: %d answers, first as %s", i, got[id], fe.framing[id])
		}
		if a := fe.answer(id, time.Second); i%2 == 0 && echoBody(t, a) != "raw\x00"+strconv.Itoa(i/2) {
			t.Errorf("raw request %d: the function saw %q", i, echoBody(t, a))
		}
	}
	for i, id := range catalogue {
		if got[id] != 1 || fe.framing[id] != "catalogue" {
			t.Errorf("catalogue request %d: %d answers, first as %s", i, got[id], fe.framing[id])
		}
		raw := string(fe.raw[id])
		if !strings.Contains(raw, `"body":"`) {
			t.Errorf("catalogue request %d: the answer is not in the catalogue's form: %s", i, raw)
		}
		if pairs := strings.Contains(raw, `"headers":[[`); pairs != (i%2 == 0) {
			t.Errorf("catalogue request %d: headers as pairs %v, want %v: %s", i, pairs, i%2 == 0, raw)
		}
		if a := fe.answer(id, time.Second); echoBody(t, a) != "b64\n"+strconv.Itoa(i) {
			t.Errorf("catalogue request %d: the function saw %q", i, echoBody(t, a))
		}
	}
}

// TestRecordsAnswersBatchedPerReplyQueue: answers to one reply queue that are ready while
// a publish to it is in flight leave together: fewer messages than answers, each message
// within --max-batch and --max-batch-bytes.
func TestRecordsAnswersBatchedPerReplyQueue(t *testing.T) {
	t.Parallel()
	const n, maxBatch, maxBytes = 32, 8, 4096
	r, queue, host, path, fe := recordsRoute(t, []string{"concurrency: 32"}, func(o *Options) {
		o.MaxBatch, o.MaxBatchBytes = maxBatch, maxBytes
	})
	svcs := make([]*protocol.Service, n)
	for i := range svcs {
		svcs[i] = service(host, "POST", path+"/echo", []byte(strings.Repeat("y", 300)))
	}
	var ids []string
	for i := 0; i < n; i += maxBatch { // a frontend's batches are bounded by the same number
		ids = append(ids, fe.publishRecords(queue, svcs[i:i+maxBatch]...)...)
	}
	got := waitAnswered(t, fe, queue, ids)
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("request %s answered %d times", id, got[id])
		}
	}
	_, msgs := fe.counts()
	if msgs >= n {
		t.Errorf("%d answers came in %d messages: not batched", n, msgs)
	}
	fe.mu.Lock()
	defer fe.mu.Unlock()
	for id, raw := range fe.raw {
		if len(raw) > maxBytes && strings.Count(string(raw), `"action":"answer"`) > 1 {
			t.Errorf("a batch of %d bytes is over --max-batch-bytes %d (request %s)", len(raw), maxBytes, id)
		}
		if c := strings.Count(string(raw), `"action":"answer"`); c > maxBatch {
			t.Errorf("a batch of %d answers is over --max-batch %d", c, maxBatch)
		}
	}
	t.Logf("%d answers in %d messages", n, msgs)
	if m := metricsText(t, r); metricValue(m, "funcatron_runner_answer_batch_records_count") != float64(msgs) {
		t.Errorf("batches not counted:\n%s", grep(m, "answer_batch"))
	}
}

// TestRecordsConcurrencyAccounting: the bundle's concurrency counts requests, not
// messages: with concurrency 4 and --max-batch 4 the route queue's prefetch is 1 message,
// 4 requests of an 8-request message run while 4 wait (queued), and the next message stays
// in the broker until the first is done.
func TestRecordsConcurrencyAccounting(t *testing.T) {
	t.Parallel()
	r, queue, host, path, fe := recordsRoute(t, []string{"concurrency: 4"}, func(o *Options) { o.MaxBatch = 4 })
	var ids []string
	for range 2 {
		svcs := make([]*protocol.Service, 8)
		for i := range svcs {
			svcs[i] = service(host, "GET", path+"/slow?ms=3000", nil) // rabbitmqctl takes a second or two
		}
		ids = append(ids, fe.publishRecords(queue, svcs...)...)
	}
	labels := `{host="` + host + `",path="` + path + `",queue="` + queue + `"}`
	testenv.WaitFor(t, 20*time.Second, "4 requests running and 4 queued", func() bool {
		m := metricsText(t, r)
		return metricValue(m, "funcatron_runner_requests_in_flight"+labels) == 4 &&
			metricValue(m, "funcatron_runner_queued_requests"+labels) == 4
	})
	ready, unacked := queueCounts(t, queue)
	if ready != 1 || unacked != 1 {
		t.Errorf("route queue: %d ready, %d unacked; want 1 and 1 (prefetch 1 message)", ready, unacked)
	}
	got := waitAnswered(t, fe, queue, ids)
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("request %s answered %d times", id, got[id])
		}
	}
	if m := metricsText(t, r); metricValue(m, "funcatron_runner_queued_requests"+labels) != 0 {
		t.Errorf("queued requests left:\n%s", grep(m, "queued"))
	}
}

// queueCounts is the broker's count of queue's ready and unacked messages.
func queueCounts(t *testing.T, queue string) (ready, unacked int) {
	t.Helper()
	out, err := rabbit.Ctl("", "list_queues", "--quiet", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == queue {
			ready, _ = strconv.Atoi(f[1])
			unacked, _ = strconv.Atoi(f[2])
			return ready, unacked
		}
	}
	t.Fatalf("queue %s not listed: %s", queue, out)
	return 0, 0
}

// TestRecordsMalformed: a records message whose framing is broken is dead-lettered whole
// and counted; a record that frames but does not decode, or names no reply queue, is
// skipped and counted while the others of its message are answered; the runner goes on.
func TestRecordsMalformed(t *testing.T) {
	t.Parallel()
	r, queue, host, path, fe := recordsRoute(t, nil)
	dead := deadLetters(t, queue)
	good := func() []byte {
		b, _ := protocol.AppendServiceRecord(nil, service(host, "GET", path+"/pid", nil))
		return b
	}
	fe.publishFramed(queue, recordsHeaders(2), good())                                                   // count past the records
	fe.publishFramed(queue, recordsHeaders(1), append(good(), 'x'))                                      // trailing bytes
	fe.publishFramed(queue, recordsHeaders(1), []byte(`{"action":"service","body-length":9}`+"\nshort")) // length past the end
	fe.publishFramed(queue, map[string]any{protocol.HeaderFraming: protocol.FramingRecords, protocol.HeaderRecords: "many"}, good())
	fe.publishFramed(queue, map[string]any{protocol.HeaderFraming: "lines"}, good())
	testenv.WaitFor(t, 10*time.Second, "5 dead letters", func() bool { return dead() == 5 })

	// One message: a good request, a record that does not decode, one without reply queue.
	var body []byte
	okSvc := service(host, "GET", path+"/hello/ok", nil)
	id := "rec-ok-" + uniq(t)
	okSvc.RequestID, okSvc.ReplyTo, okSvc.ReplyQueue = id, id, fe.queue
	body, _ = protocol.AppendServiceRecord(body, okSvc)
	body = append(body, `{"action":"service","method":12}`+"\n"...)
	body, _ = protocol.AppendServiceRecord(body, service(host, "GET", path+"/hello/nobody", nil))
	fe.publishFramed(queue, recordsHeaders(3), body)
	got := waitAnswered(t, fe, queue, []string{id})
	if got[id] != 1 {
		t.Errorf("the good record answered %d times", got[id])
	}
	if dead() != 5 {
		t.Errorf("%d dead letters, want 5: a message with a bad record is not dead-lettered", dead())
	}
	if m := metricsText(t, r); metricValue(m, "funcatron_runner_undecodable_total") != 7 {
		t.Errorf("undecodable not counted (want 5 messages + 2 records):\n%s", grep(m, "undecodable"))
	}
	if a := fe.do(queue, service(host, "GET", path+"/pid", nil)); a.Answer.Status != 200 {
		t.Errorf("after malformed records: %d", a.Answer.Status)
	}
}

// TestRecordsOversizeAnswer: an answer whose record is over --max-message-bytes becomes a
// 502 (it could not reach the frontend); the other answers of its batch are untouched.
// The echo of 3 KiB of NULs is 6 times larger (JSON writes each as \u0000).
func TestRecordsOversizeAnswer(t *testing.T) {
	t.Parallel()
	_, queue, host, path, fe := recordsRoute(t, nil, func(o *Options) { o.MaxMessageBytes = 16 << 10 })
	ids := fe.publishRecords(queue,
		service(host, "POST", path+"/echo", make([]byte, 3<<10)),
		service(host, "POST", path+"/echo", []byte("small")))
	waitAnswered(t, fe, queue, ids)
	if a := fe.answer(ids[0], time.Second); a.Answer.Status != 502 {
		t.Errorf("oversize answer: %d, want 502", a.Answer.Status)
	}
	if a := fe.answer(ids[1], time.Second); a.Answer.Status != 200 || echoBody(t, a) != "small" {
		t.Errorf("small answer: %d %q", a.Answer.Status, a.Answer.Body)
	}
	fe.mu.Lock()
	defer fe.mu.Unlock()
	for _, raw := range fe.raw {
		if len(raw) > 16<<10 {
			t.Errorf("a message of %d bytes over --max-message-bytes went out", len(raw))
		}
	}
}

// routePrefetch is the prefetch of the subscription serving queue now (0: none).
func routePrefetch(r *Runner, queue string) int {
	r.mu.Lock()
	rt := r.routes[queue]
	r.mu.Unlock()
	if rt == nil {
		return 0
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.consumer == nil {
		return 0
	}
	return rt.consumer.prefetch
}

// TestPrefetchFollowsMessages: a route fed catalogue-form messages (one request each)
// gets its prefetch raised to the concurrency (after its first message, then after
// adaptEpoch of them), so the bundle runs its concurrency of requests at once, not
// max(1, concurrency / --max-batch) = 1; a records message of --max-batch requests brings
// the prefetch back down at once.
func TestPrefetchFollowsMessages(t *testing.T) {
	t.Parallel()
	r, queue, host, path, fe := recordsRoute(t, []string{"concurrency: 4"}, func(o *Options) { o.MaxBatch = 4 })
	if p := routePrefetch(r, queue); p != 1 {
		t.Fatalf("first prefetch %d, want max(1, 4/4) = 1", p)
	}
	fe.do(queue, service(host, "GET", path+"/pid", nil))
	testenv.WaitFor(t, 10*time.Second, "prefetch 4 after a catalogue message", func() bool { return routePrefetch(r, queue) == 4 })
	var ids []string
	for range 4 {
		ids = append(ids, fe.publish(queue, service(host, "GET", path+"/slow?ms=1500", nil)))
	}
	labels := `{host="` + host + `",path="` + path + `",queue="` + queue + `"}`
	testenv.WaitFor(t, 10*time.Second, "4 catalogue requests running at once", func() bool {
		return metricValue(metricsText(t, r), "funcatron_runner_requests_in_flight"+labels) == 4
	})
	waitAnswered(t, fe, queue, ids)
	svcs := make([]*protocol.Service, 4)
	for i := range svcs {
		svcs[i] = service(host, "GET", path+"/pid", nil)
	}
	waitAnswered(t, fe, queue, fe.publishRecords(queue, svcs...))
	testenv.WaitFor(t, 10*time.Second, "prefetch 1 after a records message of 4", func() bool { return routePrefetch(r, queue) == 1 })
	for i := range adaptEpoch {
		if p := routePrefetch(r, queue); p != 1 {
			t.Fatalf("prefetch %d after %d catalogue messages, want 1 until %d", p, i, adaptEpoch)
		}
		fe.do(queue, service(host, "GET", path+"/pid", nil))
	}
	testenv.WaitFor(t, 10*time.Second, "prefetch 4 again after 4 catalogue messages", func() bool { return routePrefetch(r, queue) == 4 })
}
