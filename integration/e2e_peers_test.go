package integration

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// e2eTestConfigAndStatsd (issue 14 parts 3-4): with the broker users of scripts/broker-users.sh,
// GET /api/v1/config is answered over funcatron.configuration by the Tron and both runners,
// POST /api/v1/config changes the log level on all three, and POST /api/v1/stats makes the
// runners send StatsD datagrams for requests through nginx to a UDP socket of the test.
func e2eTestConfigAndStatsd(t *testing.T, s *e2eStack) {
	var cfg struct {
		Nodes map[string]struct {
			Component string            `json:"component"`
			Values    map[string]string `json:"values"`
		} `json:"nodes"`
	}
	testenv.WaitFor(t, 15*time.Second, "the Tron and 2 runners answering GET /api/v1/config", func() bool {
		return s.api(t, "GET", "/api/v1/config", nil, &cfg) == 200 && len(cfg.Nodes) == 3
	})
	var set struct {
		Took    []string          `json:"took"`
		Refused map[string]string `json:"refused"`
	}
	if st := s.api(t, "POST", "/api/v1/config", []byte(`{"key":"log-level","value":"debug"}`), &set); st != 200 || len(set.Took) != 3 {
		t.Errorf("setting log-level: %d took %v refused %v", st, set.Took, set.Refused)
	}
	s.api(t, "POST", "/api/v1/config", []byte(`{"key":"log-level","value":"info"}`), nil)

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	port := udp.LocalAddr().(*net.UDPAddr).Port
	body := []byte(`{"enable":true,"host":"127.0.0.1","port":` + strconv.Itoa(port) + `}`)
	var stats struct {
		Nodes []string `json:"nodes"`
	}
	if st := s.api(t, "POST", "/api/v1/stats", body, &stats); st != 200 || len(stats.Nodes) != 3 {
		t.Fatalf("POST /api/v1/stats: %d nodes %v", st, stats.Nodes)
	}
	defer s.api(t, "POST", "/api/v1/stats", []byte(`{"enable":false}`), nil)
	if r := s.get(t, "/sh/greet/statsd"); r.status != 200 {
		t.Fatalf("GET /sh/greet/statsd: %s", r)
	}
	udp.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := udp.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no StatsD datagram within 10s: %v", err)
	}
	if got := string(buf[:n]); !strings.HasPrefix(got, "funcatron.") || !strings.Contains(got, ".sh.requests:1|c\n") || !strings.Contains(got, ".sh.duration:") {
		t.Errorf("StatsD datagram %q", got)
	}
}
