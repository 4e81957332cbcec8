package tron

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/testenv"
)

// eventStream is a client of GET /api/v1/events as text/event-stream.
type eventStream struct {
	resp  *http.Response
	lines chan string // every line read; closed at the end of the stream
}

// openEventStream connects to tr's event stream with token tok.
func openEventStream(t *testing.T, tr *Tron, tok string) *eventStream {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+tr.Addr().String()+"/api/v1/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &eventStream{resp: resp, lines: make(chan string, 100000)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

// next returns the next line, "" and false at the end of the stream; it fails after 10 s.
func (s *eventStream) next(t *testing.T) (string, bool) {
	t.Helper()
	select {
	case l, ok := <-s.lines:
		return l, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no line on the event stream within 10s")
		return "", false
	}
}

// nextEvent returns the next event's data, skipping comments and blank lines.
func (s *eventStream) nextEvent(t *testing.T) Event {
	t.Helper()
	for {
		l, ok := s.next(t)
		if !ok {
			t.Fatal("the event stream ended")
		}
		if data, found := strings.CutPrefix(l, "data: "); found {
			var e Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			return e
		}
	}
}

// waitEnd reads until the stream ends and returns how many events it still had.
func (s *eventStream) waitEnd(t *testing.T, within time.Duration) int {
	t.Helper()
	n := 0
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return n
			}
			if strings.HasPrefix(l, "data: ") {
				n++
			}
		case <-deadline:
			t.Fatalf("the event stream did not end within %s", within)
		}
	}
}

func TestEventStreamReplaysThenFollows(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.eventHeartbeat = 50 * time.Millisecond })
	first := tr.upload(t, makeBundle(t, "", "/one", "1"))
	s := openEventStream(t, tr.Tron, testToken)
	if ct := s.resp.Header.Get("Content-Type"); s.resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events stream = %d %s, want 200 text/event-stream", s.resp.StatusCode, ct)
	}
	if e := s.nextEvent(t); e.Key != "bundle.uploaded."+first || e.At == 0 {
		t.Errorf("replayed event = %+v, want bundle.uploaded of %s", e, first)
	}
	second := tr.upload(t, makeBundle(t, "", "/two", "2"))
	if e := s.nextEvent(t); e.Key != "bundle.uploaded."+second {
		t.Errorf("live event = %+v, want bundle.uploaded of %s", e, second)
	}
	for l := ""; l != ": heartbeat"; {
		var ok bool
		if l, ok = s.next(t); !ok {
			t.Fatal("stream ended before a heartbeat")
		}
	}
	// Without the Accept header: the JSON snapshot, as before.
	status, res := tr.api(t, "GET", "/api/v1/events", nil)
	if evs, _ := res["events"].([]any); status != 200 || len(evs) != 2 {
		t.Errorf("events snapshot = %d %v, want the two uploads", status, res)
	}
}

func TestEventStreamNeedsTheToken(t *testing.T) {
	tr := startMemTron(t, nil)
	s := openEventStream(t, tr.Tron, "wrong")
	if s.resp.StatusCode != 401 {
		t.Errorf("events stream with a wrong token = %d, want 401", s.resp.StatusCode)
	}
}

func TestEventStreamEndsWhenTheClientGoes(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.eventHeartbeat = 20 * time.Millisecond })
	s := openEventStream(t, tr.Tron, testToken)
	s.next(t) // the stream's opening comment: it is registered
	if n := metricValue(t, tr.Tron, "funcatron_tron_event_streams"); n != 1 {
		t.Fatalf("open streams = %v, want 1", n)
	}
	s.resp.Body.Close()
	testenv.WaitFor(t, 10*time.Second, "the Tron to notice the client left", func() bool {
		return metricValue(t, tr.Tron, "funcatron_tron_event_streams") == 0
	})
}

func TestEventStreamEndsWhenTheTronStops(t *testing.T) {
	mem := bus.NewMemory()
	o := NewOptions()
	o.DataDir, o.Listen, o.Token, o.Logger = t.TempDir(), "127.0.0.1:0", testToken, testLogger(t)
	o.Bus = mem.Connect(o.TronQueue, "test")
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	testenv.WaitFor(t, 10*time.Second, "the Tron's bus", func() bool { return tr.getBus() != nil })
	s := openEventStream(t, tr, testToken)
	s.next(t)
	cancel()
	s.waitEnd(t, 10*time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context ending")
	}
}

// A client that stops reading is dropped once it is sseSlack events behind; publishing
// never waits for it, and a client that reads keeps its stream.
func TestSlowEventClientIsDroppedWithoutBlocking(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EventBuffer = 8 })
	req, _ := http.NewRequest("GET", "http://"+tr.Addr().String()+"/api/v1/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+testToken)
	slow, err := http.DefaultClient.Do(req) // read no further than the headers
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	fast := openEventStream(t, tr.Tron, testToken)
	fast.next(t)
	testenv.WaitFor(t, 10*time.Second, "two open streams", func() bool {
		return metricValue(t, tr.Tron, "funcatron_tron_event_streams") == 2
	})
	big := strings.Repeat("x", 4096)
	const batches, batch = 50, 100 // 20 MB: more than the socket buffers hold
	var publishing time.Duration
	for b := 0; b < batches; b++ {
		start := time.Now()
		for i := 0; i < batch; i++ {
			tr.publish(context.Background(), Event{Key: "test.big", Path: big})
		}
		publishing += time.Since(start)
		for i := 0; i < batch; i++ { // the reading client keeps up, batch by batch
			if e := fast.nextEvent(t); e.Key != "test.big" {
				t.Fatalf("fast client got %+v", e)
			}
		}
	}
	if publishing > 10*time.Second {
		t.Errorf("publishing %d events took %s: a slow client held the Tron up", batches*batch, publishing)
	}
	testenv.WaitFor(t, 10*time.Second, "the slow client dropped", func() bool {
		return metricValue(t, tr.Tron, "funcatron_tron_event_streams_dropped_total") == 1 &&
			metricValue(t, tr.Tron, "funcatron_tron_event_streams") == 1
	})
}

func TestEventStreamsAreBounded(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.maxEventStreams, o.eventHeartbeat = 2, 20*time.Millisecond })
	a := openEventStream(t, tr.Tron, testToken)
	openEventStream(t, tr.Tron, testToken)
	third := openEventStream(t, tr.Tron, testToken)
	if third.resp.StatusCode != 503 {
		t.Errorf("a third stream over a limit of 2 = %d, want 503", third.resp.StatusCode)
	}
	a.resp.Body.Close()
	testenv.WaitFor(t, 10*time.Second, "a stream freed", func() bool {
		s := openEventStream(t, tr.Tron, testToken)
		defer s.resp.Body.Close()
		return s.resp.StatusCode == 200
	})
}
