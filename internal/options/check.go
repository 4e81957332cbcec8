// This file holds the checks both daemons' Validate share.

package options

import (
	"errors"
	"flag"
	"fmt"
	"net/url"

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

// CodecVar binds a --codec style flag to p: it parses "edn" or "json" (protocol.ParseCodec).
func CodecVar(fs *flag.FlagSet, p *protocol.Codec, name, usage string) {
	fs.Var((*codecValue)(p), name, usage)
}

type codecValue protocol.Codec

// String is the option's spelling, "edn" or "json", as --help shows the default.
func (c *codecValue) String() string {
	switch protocol.Codec(*c) {
	case protocol.EDN:
		return "edn"
	case protocol.JSON:
		return "json"
	}
	return string(*c)
}

func (c *codecValue) Set(s string) error {
	v, ok := protocol.ParseCodec(s)
	if !ok {
		return errors.New("want edn or json")
	}
	*c = codecValue(v)
	return nil
}
