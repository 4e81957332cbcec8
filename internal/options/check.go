// This file holds the checks both daemons' Validate share (the rule: the package doc).

package options

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// Problems collects what a Validate finds, so that every bad option is reported at once.
type Problems []error

// Add records one problem; format names the flag ("--tron-queue: must not be empty").
func (p *Problems) Add(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

// Err is nil without problems, else all of them, wrapping ErrInvalid.
func (p Problems) Err() error { return Invalid(errors.Join(p...)) }

// AMQPURL records a problem unless raw is an amqp:// or amqps:// URL with a host. The
// message never holds the URL's password, even when it does not parse.
func (p *Problems) AMQPURL(raw string) {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		p.Add("--rabbit-url %q: want amqp://user:pass@host:port/vhost", amqpbus.RedactURL(raw))
	}
}

// Codec records a problem unless c is a codec the daemons speak.
func (p *Problems) Codec(c protocol.Codec) {
	if _, ok := protocol.ParseCodec(string(c)); !ok {
		p.Add("--codec %q: want edn or json", c)
	}
}

// QueueType records a problem unless q is a queue type (protocol.ParseQueueType).
func (p *Problems) QueueType(q protocol.QueueType) {
	if _, ok := protocol.ParseQueueType(string(q)); !ok {
		p.Add("--queue-type %q: want classic or quorum", q)
	}
}

// Listen records a problem unless addr is a --listen address: host:port, the host possibly
// empty (all interfaces), port 0 picking a free one.
func (p *Problems) Listen(addr string) {
	if _, _, err := SplitHostPort(addr); err != nil {
		p.Add("--listen %q: %v", addr, err)
	}
}

// SplitHostPort splits "host:port" and checks the port is a number in 0-65535.
func SplitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	return host, n, nil
}

// Positive records a problem unless v > 0: a bound, a period or a timeout, which zero or
// less cannot work as. name is the flag ("--max-bundle-bytes"), or the field when the option
// has no flag.
func Positive[T ~int | ~int64](p *Problems, name string, v T) {
	if v <= 0 {
		p.Add("%s %v: must be positive", name, v)
	}
}

// NotNegative records a problem for v < 0: a grace or a linger, where zero means none.
func NotNegative[T ~int | ~int64](p *Problems, name string, v T) {
	if v < 0 {
		p.Add("%s %v: must not be negative", name, v)
	}
}
