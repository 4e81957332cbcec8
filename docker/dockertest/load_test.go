package dockertest

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// clientTimeout is past the frontend's timeout: a request that reaches it hung.
const clientTimeout = (frontendTimeout + 5) * time.Second

// sample is one request of a load: when it ran and how it ended.
type sample struct {
	start, end time.Time
	status     int
	err        string // transport error, or a 2xx body that was not the expected one
}

// load is clients looping requests to one URL, each on its own keep-alive connection,
// recording every outcome so a fault test can count them.
type load struct {
	url, want string
	stop      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	samples   []sample
}

// startLoad starts clients GETting url, a 2xx answer must have body want. At most 5 minutes
// or 50 000 requests, so a load never runs away; stopped in t.Cleanup too.
func startLoad(t *testing.T, clients int, url, want string) *load {
	l := &load{url: url, want: want, stop: make(chan struct{})}
	end := time.Now().Add(5 * time.Minute)
	for range clients {
		c := &http.Client{Timeout: clientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		l.wg.Go(func() {
			defer c.CloseIdleConnections()
			for l.running() && time.Now().Before(end) && l.count() < 50000 {
				s := fetch(c, l.url, l.want)
				l.record(s)
				if s.status/100 != 2 {
					// as a real client: no tight loop of failures while an outage lasts
					select {
					case <-l.stop:
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		})
	}
	t.Cleanup(l.finish)
	return l
}

func (l *load) running() bool {
	select {
	case <-l.stop:
		return false
	default:
		return true
	}
}

// fetch GETs url once; a 2xx answer must have body want.
func fetch(c *http.Client, url, want string) sample {
	s := sample{start: time.Now()}
	resp, err := c.Get(url)
	if err != nil {
		s.end, s.err = time.Now(), err.Error()
		return s
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.end, s.status = time.Now(), resp.StatusCode
	if err != nil {
		s.err = err.Error()
	} else if s.status/100 == 2 && string(body) != want {
		s.err = fmt.Sprintf("body %q, want %q", body, want)
	}
	return s
}

func (l *load) record(s sample) {
	l.mu.Lock()
	l.samples = append(l.samples, s)
	l.mu.Unlock()
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.samples)
}

func (l *load) snapshot() []sample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sample(nil), l.samples...)
}

// finish stops the clients and waits for their last requests.
func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitOK waits until n more requests have been answered 2xx.
func (l *load) waitOK(t *testing.T, n int, within time.Duration) {
	t.Helper()
	base := countOf(l.snapshot()).ok
	testenv.WaitFor(t, within, fmt.Sprintf("%d more 2xx answers", n), func() bool {
		return countOf(l.snapshot()).ok >= base+n
	})
}

// counts sums up samples: 2xx with the right body, other statuses, and failures (transport
// errors, wrong bodies), with the first few failures for the message.
type counts struct {
	total, ok int
	byStatus  map[int]int
	failures  []string
}

func countOf(samples []sample) counts {
	c := counts{total: len(samples), byStatus: map[int]int{}}
	for _, s := range samples {
		switch {
		case s.err != "":
			if len(c.failures) < 5 {
				c.failures = append(c.failures, s.err)
			}
		case s.status/100 == 2:
			c.ok++
		default:
			c.byStatus[s.status]++
		}
	}
	return c
}

func (c counts) String() string {
	var codes []string
	for code, n := range c.byStatus {
		codes = append(codes, fmt.Sprintf("%d×%d", n, code))
	}
	sort.Strings(codes)
	return fmt.Sprintf("%d requests: %d 2xx, other statuses [%s], %d failed %v", c.total, c.ok,
		strings.Join(codes, " "), c.total-c.ok-sum(c.byStatus), c.failures)
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
