// StatsD (issue 14, as the original runner did): when a target is set (run-time
// configuration, key statsd), every answered request sends per-route counters and a timing
// over UDP, one datagram per request:
//
//	funcatron.<host>.<path>.requests:1|c
//	funcatron.<host>.<path>.errors:1|c        (status 5xx only)
//	funcatron.<host>.<path>.duration:<ms>|ms
//
// <host> is the route's host ("any" for a host-less route) and <path> its base path
// ("root" for "/"), each sanitised: letters, digits, '-' and '_' kept, anything else ('.',
// '/', ':') becomes '_', leading and trailing '_' dropped. Sending never blocks a
// request: a UDP write that fails is ignored (StatsD is lossy by design).

package runner

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// statsdSender holds the current StatsD target; its zero value sends nothing.
type statsdSender struct {
	mu     sync.Mutex
	target string
	conn   net.Conn
}

// set changes the target ("" = none), closing the previous socket.
func (s *statsdSender) set(addr string) error {
	var c net.Conn
	if addr != "" {
		var err error
		if c, err = net.Dial("udp", addr); err != nil {
			return err
		}
	}
	s.mu.Lock()
	old := s.conn
	s.target, s.conn = addr, c
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (s *statsdSender) addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.target
}

// request sends the metrics of one answered request of the route (host, basePath).
func (s *statsdSender) request(host, basePath string, status int, d time.Duration) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return
	}
	name := statsdName(host, basePath)
	b := make([]byte, 0, 3*len(name)+64)
	b = append(append(b, name...), ".requests:1|c\n"...)
	if status >= 500 {
		b = append(append(b, name...), ".errors:1|c\n"...)
	}
	b = append(append(b, name...), ".duration:"...)
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
	b = append(b, "|ms"...)
	c.Write(b) // lossy by design
}

// statsdName is "funcatron.<host>.<path>" for a route, sanitised (file comment).
func statsdName(host, basePath string) string {
	h, p := sanitize(host), sanitize(basePath)
	if h == "" {
		h = "any"
	}
	if p == "" {
		p = "root"
	}
	return "funcatron." + h + "." + p
}

func sanitize(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return strings.Trim(string(b), "_")
}
