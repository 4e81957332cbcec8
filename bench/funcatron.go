// The Funcatron rows: the whole stack (RabbitMQ, Tron, one runner, the nginx frontend), the
// cold start of the sample bundle, and the 50 bundles of the memory figure.

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/wait"
)

// Paths of the sample (bundles/samples/README.md).
const (
	greetPath = "/hello/greet/x"
	echoPath  = "/hello/echo"
	greetWant = `"greeting":"Hello, x!"`
)

var props = map[string]any{"greeting": "Hello"}

// coldStart is the time from add_func to the first 200 through nginx.
type coldStart struct {
	UploadMS  float64        `json:"upload_ms"`   // POST /api/v1/add_func
	EnableMS  float64        `json:"enable_ms"`   // POST /api/v1/enable, which returns once the runner acked
	FirstOKMS float64        `json:"first_ok_ms"` // from the enable's answer to the first 200 (polled every 10 ms)
	TotalMS   float64        `json:"total_ms"`    // upload + enable + first 200
	Polls     int            `json:"polls"`
	Statuses  map[string]int `json:"statuses_before_200,omitempty"`
}

// measureColdStart uploads and enables zip, then polls the frontend until it answers 200.
func measureColdStart(s *stack.Stack, zip string) (coldStart, error) {
	var cs coldStart
	t0 := time.Now()
	sha, err := s.Upload(zip)
	if err != nil {
		return cs, err
	}
	t1 := time.Now()
	if err := s.Enable(sha, props, false); err != nil {
		return cs, err
	}
	t2 := time.Now()
	c := http.Client{Timeout: 2 * time.Second}
	cs.Statuses = map[string]int{}
	if !wait.Until(time.Minute, func() bool {
		cs.Polls++
		status, _, err := get(&c, s.FrontURL()+greetPath)
		switch {
		case status == http.StatusOK:
			return true
		case err != nil:
			cs.Statuses["error"]++
		default:
			cs.Statuses[fmt.Sprint(status)]++
		}
		return false
	}) {
		return cs, fmt.Errorf("no 200 from %s a minute after the enable: %v", greetPath, cs.Statuses)
	}
	t3 := time.Now()
	cs.UploadMS, cs.EnableMS, cs.FirstOKMS = ms(t1.Sub(t0)), ms(t2.Sub(t1)), ms(t3.Sub(t2))
	cs.TotalMS = ms(t3.Sub(t0))
	return cs, nil
}

// waitAllWorkers waits for 20 answers of 200 in a row, each on a new connection, so that
// every nginx worker has the route table before load starts (a worker without it answers 503).
func waitAllWorkers(front string) error {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ok := 0
	if !wait.Until(30*time.Second, func() bool {
		if status, _, _ := get(&c, front+greetPath); status == http.StatusOK {
			ok++
		} else {
			ok = 0
		}
		return ok >= 20
	}) {
		return fmt.Errorf("%s: not 20 answers of 200 in a row after 30 s", front)
	}
	return nil
}

// makeBundles writes n-1 more bundles from the sample zip: the same files with base paths
// /bench-02 ... /bench-<n>, so each has its own sha and route.
func makeBundles(zipPath string, n int, dir string) ([]string, error) {
	src := filepath.Join(dir, "src")
	if err := unzip(zipPath, src); err != nil {
		return nil, err
	}
	manifest := filepath.Join(src, "funcatron.yaml")
	orig, err := os.ReadFile(manifest)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(orig, []byte("basePath: /hello\n")) {
		return nil, fmt.Errorf("%s: no line 'basePath: /hello' to rewrite", manifest)
	}
	var zips []string
	for i := 2; i <= n; i++ {
		m := strings.Replace(string(orig), "basePath: /hello\n", fmt.Sprintf("basePath: /bench-%02d\n", i), 1)
		if err := os.WriteFile(manifest, []byte(m), 0o644); err != nil {
			return nil, err
		}
		out := filepath.Join(dir, fmt.Sprintf("bench-%02d.zip", i))
		if err := packTo(src, out); err != nil {
			return nil, err
		}
		zips = append(zips, out)
	}
	return zips, nil
}

func packTo(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := bundles.Pack(f, dir); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// deployAll uploads and enables every zip, a few at a time (enables of different routes
// proceed in parallel in the runner).
func deployAll(s *stack.Stack, zips []string, parallel int) error {
	sem := make(chan struct{}, parallel)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, z := range zips {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := s.Deploy(z, props); err != nil {
				mu.Lock()
				first = cmpOr(first, fmt.Errorf("deploying %s: %w", filepath.Base(z), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// get fetches url and returns the status and body.
func get(c *http.Client, url string) (int, []byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// checkAnswer sends one request of the row's kind and checks the answer: the greeting for
// GET, the same bytes back for POST, any 200 for the ceiling.
func checkAnswer(url string, bodySize int, ceiling bool) error {
	c := http.Client{Timeout: 10 * time.Second}
	var resp *http.Response
	var err error
	sent := bytes.Repeat([]byte("x"), max(bodySize, 0))
	if bodySize < 0 {
		resp, err = c.Get(url)
	} else {
		resp, err = c.Post(url, "application/octet-stream", bytes.NewReader(sent))
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s: status %d: %.200s", url, resp.StatusCode, got)
	case ceiling:
	case bodySize < 0 && !bytes.Contains(got, []byte(greetWant)):
		return fmt.Errorf("%s: answer %.200q lacks %s", url, got, greetWant)
	case bodySize >= 0 && !bytes.Equal(got, sent):
		return fmt.Errorf("%s: echo of %d bytes came back as %d different bytes", url, len(sent), len(got))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
