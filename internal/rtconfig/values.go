package rtconfig

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// StatsdOff is the statsd value that sends no StatsD metrics.
const StatsdOff = "off"

// ParseStatsd reads a statsd value: "host:port", or "off" (or "") for none. addr is ""
// for none.
func ParseStatsd(v string) (addr string, err error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, StatsdOff) {
		return "", nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return "", fmt.Errorf("statsd %q: want host:port or %q", v, StatsdOff)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("statsd %q: port must be 1-65535", v)
	}
	return net.JoinHostPort(host, port), nil
}

// StatsdValue is the statsd value of addr ("" = off).
func StatsdValue(addr string) string {
	if addr == "" {
		return StatsdOff
	}
	return addr
}
