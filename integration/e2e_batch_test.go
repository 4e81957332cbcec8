package integration

// Batches and raw bodies end to end (spec/protocol.md §8, issue 13): our frontend's records
// through the real runners, side by side with catalogue-form clients, and a runner killed
// while it holds a partly answered batch.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// e2ePublished sums what every nginx worker says it published (health's `published`).
func e2ePublished(t *testing.T, s *e2eStack) (messages, records int) {
	t.Helper()
	for _, v := range s.workerViews(t, "health") {
		messages += v.Published.Messages
		records += v.Published.Records
	}
	return messages, records
}

// e2eEcho posts body to /hello/echo and checks that it comes back as it went.
func e2eEcho(c *http.Client, url string, body []byte) error {
	r, err := e2eDo(c, "POST", url+"/hello/echo", "", body, http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return err
	}
	if r.status != 200 || !bytes.Equal(r.body, body) {
		return fmt.Errorf("echo of %q: got %s", body, r)
	}
	return nil
}

// e2eTestBatches: many concurrent POSTs with binary bodies (NUL, newlines) through nginx to
// the real runners: each answered once with its own body, in fewer route-queue messages
// than requests.
func e2eTestBatches(t *testing.T, s *e2eStack) {
	msgsBefore, recsBefore := e2ePublished(t, s)
	const n = 96
	var wg sync.WaitGroup
	c := &http.Client{Timeout: e2eClientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for i := range n {
		wg.Go(func() {
			if err := e2eEcho(c, s.FrontURL(), binaryBody(i)); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	msgs, recs := e2ePublished(t, s)
	msgs, recs = msgs-msgsBefore, recs-recsBefore
	t.Logf("%d concurrent requests left the frontends as %d records in %d messages", n, recs, msgs)
	if recs != n || msgs >= n {
		t.Errorf("%d requests were %d records in %d messages: want %d records in fewer messages", n, recs, msgs, n)
	}
}

// e2eCatalogueClient plays a third-party frontend that speaks only the catalogue's form: it
// sends 2017-frontend service messages (internal/protocol/testdata/captured/service-post.json,
// the message the original frontend sent, with the body, ids and path changed) to a route
// queue and reads the answers on its own inbox.
type e2eCatalogueClient struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	inbox   string
	mu      sync.Mutex
	answers map[string][]amqp.Delivery // by request-id
}

func e2eNewCatalogueClient(t *testing.T, s *e2eStack) *e2eCatalogueClient {
	t.Helper()
	u := s.BrokerUsers[protocol.RoleFrontend]
	conn, err := amqp.Dial(fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", u.Name, u.Password, s.Rabbit.AMQPPort))
	if err != nil {
		t.Fatalf("dialing RabbitMQ as the frontend user: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	c := &e2eCatalogueClient{conn: conn, ch: ch, inbox: uniqueName("FRNTcatalogue"), answers: map[string][]amqp.Delivery{}}
	if _, err := ch.QueueDeclare(c.inbox, false, true, true, false, nil); err != nil {
		t.Fatalf("declaring %s: %v", c.inbox, err)
	}
	ds, err := ch.Consume(c.inbox, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range ds {
			var a struct {
				ID string `json:"request-id"`
			}
			json.Unmarshal(d.Body, &a)
			c.mu.Lock()
			c.answers[a.ID] = append(c.answers[a.ID], d)
			c.mu.Unlock()
		}
	}()
	return c
}

// send publishes a 2017-style POST /hello/echo with body to queue; returns its reply-to.
func (c *e2eCatalogueClient) send(t *testing.T, queue string, i int, body []byte) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(servers.RepoRoot(), "internal", "protocol", "testdata", "captured", "service-post.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("cat%d%d", time.Now().UnixNano(), i)
	m["reply-to"], m["request-id"], m["reply-queue"] = id, "req-"+id, c.inbox
	m["uri"], m["request-uri"], m["request"] = "/hello/echo", "/hello/echo", "POST /hello/echo HTTP/1.1"
	m["content-type"] = "application/octet-stream"
	if h, ok := m["headers"].(map[string]any); ok {
		h["content-type"], h["content-length"] = "application/octet-stream", fmt.Sprint(len(body))
	}
	m["body"] = base64.StdEncoding.EncodeToString(body)
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = c.ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{
		ContentType: "application/json", ReplyTo: id, AppId: "funcatron-resty", Body: b,
	})
	if err != nil {
		t.Fatalf("publishing a catalogue request: %v", err)
	}
	return id
}

// answer returns the answers that came for id.
func (c *e2eCatalogueClient) answer(id string) []amqp.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answers[id]
}

// e2eTestMixedFramings: on one route queue, our frontend's records requests (raw bodies,
// batched) and a catalogue-form client's 2017-frontend messages, at the same time: each is
// answered in its own form with its own body (the catalogue client's in one JSON message
// with a base64 body and the map form of headers, no fc-framing).
func e2eTestMixedFramings(t *testing.T, s *e2eStack, sha string) {
	q := s.queueOf(t, sha)
	cat := e2eNewCatalogueClient(t, s)
	const n = 30
	ids := make([]string, n)
	var wg sync.WaitGroup
	c := &http.Client{Timeout: e2eClientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for i := range n {
		ids[i] = cat.send(t, q, i, binaryBody(1000+i))
		wg.Go(func() {
			if err := e2eEcho(c, s.FrontURL(), binaryBody(i)); err != nil {
				t.Errorf("records request %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	testenv.WaitFor(t, 10*time.Second, "an answer to every catalogue request", func() bool {
		for _, id := range ids {
			if len(cat.answer(id)) == 0 {
				return false
			}
		}
		return true
	})
	for i, id := range ids {
		ds := cat.answer(id)
		if len(ds) != 1 {
			t.Errorf("catalogue request %d: %d answers, want 1", i, len(ds))
			continue
		}
		d := ds[0]
		var a struct {
			Answer struct {
				Status  int            `json:"status"`
				Headers map[string]any `json:"headers"`
				Body    string         `json:"body"`
			} `json:"answer"`
		}
		err := json.Unmarshal(d.Body, &a)
		body, _ := base64.StdEncoding.DecodeString(a.Answer.Body)
		if err != nil || a.Answer.Status != 200 || !bytes.Equal(body, binaryBody(1000+i)) || d.Headers["fc-framing"] != nil {
			t.Errorf("catalogue request %d: answer %s (headers %v, err %v), want one JSON answer echoing its body", i, d.Body, d.Headers, err)
		}
		if ct := fmt.Sprint(a.Answer.Headers["Content-Type"]); !strings.Contains(ct, "application/octet-stream") {
			t.Errorf("catalogue request %d: headers %v, want the map form with Content-Type", i, a.Answer.Headers)
		}
	}
}

// e2eTestRunnerKillMidBatch: kill -9 of a runner that holds a records message of which it
// answered some requests (fast echoes) and not the others (slow sleeps). The broker gives
// the whole message to the other runner, which serves every request of it again; the
// frontend keeps the first answer per request, so every client gets exactly one answer, its
// own, a 200, and none waits for the timeout.
func e2eTestRunnerKillMidBatch(t *testing.T, env *e2eEnv) {
	s := e2eStart(t, env, e2eStackOptions{runners: 2, workers: 1})
	sha := s.deploy(t, env.sample("hello-go"), e2eProps)
	q := s.queueOf(t, sha)
	s.waitRunnersServing(t, q, 2)
	route := map[string]string{"queue": q}
	served := func(i int) float64 {
		return e2eMetric(t, e2eRunnerURL(t, s.Runners[i])+"/metrics", "funcatron_runner_requests_total", route)
	}
	before := []float64{served(0), served(1)}

	const fast, slow = 24, 8
	c := &http.Client{Timeout: e2eClientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: fast + slow}}
	var fastDone, all sync.WaitGroup
	start := make(chan struct{})
	slowTook := make([]time.Duration, slow)
	for i := range fast + slow {
		if i < fast {
			fastDone.Add(1)
		}
		all.Go(func() {
			<-start
			if i < fast {
				defer fastDone.Done()
				if err := e2eEcho(c, s.FrontURL(), binaryBody(i)); err != nil {
					t.Errorf("fast request %d: %v", i, err)
				}
				return
			}
			r, err := e2eDo(c, "GET", s.FrontURL()+"/hello/sleep?ms=1200", "", nil, nil)
			if err != nil || r.status != 200 || string(r.body) != `{"slept_ms":1200}`+"\n" {
				t.Errorf("slow request %d: %v %s", i, err, r)
			}
			slowTook[i-fast] = r.took
		})
	}
	close(start)
	fastDone.Wait()

	// the victim: a runner that answered some of the burst and still serves some of it
	victim := -1
	var victimServed float64
	for i, p := range s.Runners {
		url := e2eRunnerURL(t, p)
		inflight := e2eMetric(t, url+"/metrics", "funcatron_runner_requests_in_flight", route) +
			e2eMetric(t, url+"/metrics", "funcatron_runner_queued_requests", route)
		if d := served(i) - before[i]; d >= 1 && inflight >= 1 {
			victim, victimServed = i, d
			break
		}
	}
	if victim < 0 {
		t.Fatalf("no runner held a partly answered batch when the fast requests were answered (served %v → %v)", before, []float64{served(0), served(1)})
	}
	s.Runners[victim].Kill()
	t.Logf("killed %s (kill -9) after it answered %.0f requests of the burst, with others in hand", s.Runners[victim].Name, victimServed)
	all.Wait()
	survivor := 1 - victim
	again := served(survivor) - before[survivor]
	t.Logf("the survivor served %.0f requests of the burst; %d requests in all; slow ones took %v", again, fast+slow, slowTook)
	// The victim's answered requests may all have been in messages it had finished (and
	// acked): with a prefetch of several messages the burst's batches need not mix fast and
	// slow requests. runner's TestRecordsKillMidBatch kills a runner inside one mixed message every
	// time; here, when some were served again, their second answers reached the frontend,
	// which dropped them: their clients had their answer already.
	if victimServed+again > fast+slow {
		testenv.WaitFor(t, 5*time.Second, "the frontend dropping the second answers", func() bool {
			return strings.Contains(s.Nginx.ErrorLog(), "dropped: nobody waits for it")
		})
	} else {
		t.Logf("answered %0.f + %0.f times for %d requests: the killed runner's unfinished messages held none it had answered", victimServed, again, fast+slow)
	}
	if victimServed+again < fast+slow {
		t.Errorf("answered %0.f + %0.f times for %d requests: some were never served", victimServed, again, fast+slow)
	}
	for i := range 10 {
		e2eWant(t, "after the kill", s.get(t, fmt.Sprintf("/hello/greet/k%d", i)), 200, e2eGreeting("Howdy", fmt.Sprintf("k%d", i)))
	}
}
