package integration

// The frontend's side of spec/protocol.md §8 (issue 13): batches of records with raw bodies
// to the route queue, records answers split on the inbox, catalogue answers still read.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/testenv"
)

// binaryBody returns a body unique to i that holds NUL, newlines and bytes over 0x7f.
func binaryBody(i int) []byte {
	return []byte(fmt.Sprintf("req %d\x00\n\r\n\xff\xfe{\"json\":\n%d}\x00", i, i*i))
}

// TestFrontendBatches: many concurrent requests on one route of one nginx worker, each with a
// binary body, are answered exactly once each with their own body, and reach the runner in
// fewer messages than requests: those that arrived while a publish was in flight left
// together. Every request id reaches the runner once.
func TestFrontendBatches(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{})
	q := uniqueName("q")
	r := newRunner(t, q, echo)
	f.routeAll(t, msg{"path": "/", "queue": q})

	const n = 96
	var wg sync.WaitGroup
	errs := make(chan string, n)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 20 * time.Second}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body := binaryBody(i)
			status, got, err := post(c, f.nginx.URL()+fmt.Sprintf("/b/%d", i), body)
			if err != nil || status != 200 || !bytes.Equal(got, body) {
				errs <- fmt.Sprintf("request %d: %d %q %v, want 200 %q", i, status, got, err, body)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	svcs := r.received()
	ids := map[string]int{}
	batched := 0
	for _, svc := range svcs {
		ids[str(svc["request-id"])]++
		if svc["_framing"] != "records" || svc["body"] != nil || svc["body-base64-encoded"] != false {
			t.Errorf("request %v in framing %v with body field %v: want a record with its body raw", svc["uri"], svc["_framing"], svc["body"] != nil)
		}
		if svc["_records"].(int) > 1 {
			batched++
		}
	}
	if len(svcs) != n || len(ids) != n {
		t.Errorf("runner got %d records with %d distinct request ids, want %d each once", len(svcs), len(ids), n)
	}
	taken := r.taken()
	t.Logf("%d requests in %d messages (%d requests in messages of several)", n, taken, batched)
	if taken >= n || batched == 0 {
		t.Errorf("%d requests reached the runner in %d messages: no batch", n, taken)
	}
	pub, _ := f.health(t)["published"].(msg)
	if pub["records"] != float64(n) || pub["messages"] != float64(taken) {
		t.Errorf("health published %v, want %d records in %d messages", pub, n, taken)
	}
}

// TestFrontendLoneRequest: a request with no other in flight leaves at once, alone: one
// record per message for sequential requests, each answered quickly (no timer waits for more).
func TestFrontendLoneRequest(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{})
	q := uniqueName("q")
	r := newRunner(t, q, fixed("ok"))
	f.routeAll(t, msg{"path": "/", "queue": q})
	var slowest time.Duration
	for i := range 20 {
		resp := f.get(t, fmt.Sprintf("/lone/%d", i))
		if resp.status != 200 {
			t.Fatalf("request %d: %d %s", i, resp.status, resp.body)
		}
		slowest = max(slowest, resp.elapsed)
	}
	for _, svc := range r.received() {
		if svc["_records"] != 1 {
			t.Errorf("a sequential request went in a message of %v records, want 1", svc["_records"])
		}
	}
	if r.taken() != 20 {
		t.Errorf("20 sequential requests in %d messages, want 20", r.taken())
	}
	t.Logf("slowest of 20 sequential requests: %s", slowest)
	if slowest > 500*time.Millisecond {
		t.Errorf("a lone request took %s", slowest)
	}
}

// TestFrontendRecordsAnswers: what the listener makes of answers in records framing that a
// runner may send: several for different requests in one message, catalogue answers to
// records requests (a runner that does not speak records), a record that claims to be a
// control message (refused: only answers travel unsigned), an answer record without its
// answer (502), and a message whose framing breaks after a record (that request answers 502
// at once, the listener keeps running).
func TestFrontendRecordsAnswers(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{timeout: "3"})
	q := uniqueName("q")
	pub := channel(t, dialAMQP(t))
	send := func(queue string, p amqp.Publishing) {
		if err := pubWith(pub, queue, p); err != nil {
			t.Error(err)
		}
	}
	var mode sync.Map // uri → how to answer
	newRunner(t, q, func(svc msg) []msg {
		how, _ := mode.Load(str(svc["uri"]))
		a := answer(svc, 200, [][2]string{{"Content-Type", "text/plain"}}, []byte("ok "+str(svc["uri"])))
		rec, _ := answerRecord(a)
		inbox := str(svc["reply-queue"])
		switch how {
		case "catalogue": // as a runner that does not speak records
			b, _ := json.Marshal(a)
			send(inbox, amqp.Publishing{ContentType: "application/json", Body: b})
		case "control":
			route := []byte(`{"action":"route","msg-id":"x","routes":[]}` + "\n")
			send(inbox, recordsMessage([][]byte{route, rec}))
		case "no answer": // an answer record without its answer
			line, _ := json.Marshal(msg{"action": "answer", "request-id": svc["reply-to"]})
			send(inbox, recordsMessage([][]byte{append(line, '\n')}))
		case "broken":
			p := recordsMessage([][]byte{rec, []byte("{broken\n")})
			p.Headers["fc-records"] = int32(2)
			send(inbox, p)
		default: // a records answer
			return []msg{a}
		}
		return nil
	})
	f.routeAll(t, msg{"path": "/", "queue": q})

	if r := f.get(t, "/records"); r.status != 200 || string(r.body) != "ok /records" {
		t.Errorf("records answer: %d %q", r.status, r.body)
	}
	mode.Store("/catalogue", "catalogue")
	if r := f.get(t, "/catalogue"); r.status != 200 || string(r.body) != "ok /catalogue" {
		t.Errorf("catalogue answer to a records request: %d %q", r.status, r.body)
	}
	mode.Store("/control", "control")
	if r := f.get(t, "/control"); r.status != 200 || string(r.body) != "ok /control" {
		t.Errorf("answer after a route record: %d %q", r.status, r.body)
	}
	refused, _ := f.health(t)["refused"].(msg)
	if refused["unsigned"] != float64(1) {
		t.Errorf("refused %v, want the route record refused as unsigned", refused)
	}
	if h := f.health(t); h["routes"] != float64(1) {
		t.Errorf("the route record changed the table: %v routes", h["routes"])
	}
	mode.Store("/none", "no answer")
	wantError(t, f.get(t, "/none"), 502, "answer is not an object")
	mode.Store("/broken", "broken")
	r := f.get(t, "/broken")
	wantError(t, r, 502, "malformed answer message")
	if r.elapsed > 2*time.Second {
		t.Errorf("a request whose answer message broke after its record took %s, want 502 at once", r.elapsed)
	}
	if r := f.get(t, "/after"); r.status != 200 || string(r.body) != "ok /after" {
		t.Errorf("after a broken records message: %d %q", r.status, r.body)
	}
	testenv.WaitFor(t, 5*time.Second, "the broken message to be logged", func() bool {
		return bytes.Contains([]byte(f.nginx.ErrorLog()), []byte("malformed records message on the inbox"))
	})
}

// TestFrontendMixedFramings: a records frontend and a catalogue one (FUNCATRON_FRAMING=
// catalogue) share a route queue; the runner answers each in its own form; every request of
// both is answered with its own body.
func TestFrontendMixedFramings(t *testing.T) {
	t.Parallel()
	rec := startFrontend(t, frontendOptions{})
	cat := startFrontend(t, frontendOptions{env: map[string]string{"FUNCATRON_FRAMING": "catalogue"}})
	q := uniqueName("q")
	r := newRunner(t, q, echo)
	rec.routeAll(t, msg{"path": "/", "queue": q})
	cat.routeAll(t, msg{"path": "/", "queue": q})
	var wg sync.WaitGroup
	for i := range 40 {
		f := rec
		if i%2 == 1 {
			f = cat
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := binaryBody(i)
			status, got, err := post(client, f.nginx.URL()+fmt.Sprintf("/mix/%d", i), body)
			if err != nil || status != 200 || !bytes.Equal(got, body) {
				t.Errorf("request %d: %d %q %v", i, status, got, err)
			}
		}()
	}
	wg.Wait()
	forms := map[string]int{}
	for _, svc := range r.received() {
		forms[str(svc["_framing"])]++
	}
	if forms["records"] != 20 || forms["catalogue"] != 20 {
		t.Errorf("runner got %v, want 20 records and 20 catalogue messages", forms)
	}
}

func pubWith(ch *amqp.Channel, queue string, p amqp.Publishing) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ch.PublishWithContext(ctx, "", queue, false, false, p)
}

// post sends body and returns the status and body of the answer (for goroutines: no t).
func post(c *http.Client, url string, body []byte) (int, []byte, error) {
	resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp.StatusCode, got, err
}
