package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// e2eLogRecord is one record of GET /api/v1/logs.
type e2eLogRecord struct {
	Msg   string         `json:"msg"`
	Attrs map[string]any `json:"attrs"`
}

// e2eTestLiveLogs (issue 15, the live log view): a CGI bundle's stderr line per request,
// shipped by the runners to funcatron.logging with the broker users' permissions, reaches
// GET /api/v1/logs?sha=<prefix> as Server-Sent Events within seconds and is in the JSON
// snapshot; another bundle's line is in neither.
func e2eTestLiveLogs(t *testing.T, s *e2eStack, env *e2eEnv) {
	script := "echo \"live-log-line $QUERY_STRING\" >&2\nprintf 'Status: 200 OK\\nContent-Type: text/plain\\n\\nok\\n'\n"
	variant := func(path string) string {
		return e2eVariant(t, env.sample("hello-sh"),
			e2eReplace("  - url: /sh\n", "  - url: "+path+"\n", "command: [bin/hello.sh]", "command: [sh, bin/logs.sh]"),
			map[string]string{"bin/logs.sh": script})
	}
	sha := s.deploy(t, variant("/shlogs"), nil)
	s.deploy(t, variant("/shother"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lines := e2eFollowLogs(t, ctx, s, "/api/v1/logs?sha="+sha[:10])
	testenv.WaitFor(t, 20*time.Second, "a line of the bundle on the live log stream", func() bool {
		s.get(t, "/shother/args?other")
		s.get(t, "/shlogs/args?mine")
		select {
		case r := <-lines:
			if r.Msg != "live-log-line mine" || r.Attrs["sha"] != sha {
				t.Fatalf("the stream of %s carried %q of %v", sha[:10], r.Msg, r.Attrs["sha"])
			}
			return true
		case <-time.After(time.Second):
			return false
		}
	})
	var snap struct {
		Logs []e2eLogRecord `json:"logs"`
	}
	testenv.WaitFor(t, 10*time.Second, "the line in the JSON snapshot", func() bool {
		return s.api(t, "GET", "/api/v1/logs?sha="+sha[:10], nil, &snap) == 200 && len(snap.Logs) > 0
	})
	for _, r := range snap.Logs {
		if r.Msg != "live-log-line mine" || r.Attrs["sha"] != sha {
			t.Errorf("the snapshot of %s holds %q of %v", sha[:10], r.Msg, r.Attrs["sha"])
		}
	}
}

// e2eFollowLogs reads the live log stream at path, sending each record on the channel.
func e2eFollowLogs(t *testing.T, ctx context.Context, s *e2eStack, path string) <-chan e2eLogRecord {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.TronURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan e2eLogRecord, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var r e2eLogRecord
				json.Unmarshal([]byte(data), &r)
				out <- r
			}
		}
	}()
	return out
}
