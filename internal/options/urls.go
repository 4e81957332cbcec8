// This file holds the broker list option (spec/protocol.md §9): --rabbit-url repeated or
// comma-separated.

package options

import (
	"flag"

	"github.com/funcatron/funcatron/internal/amqpbus"
)

// URLListVar binds a --rabbit-url style flag to p, a comma-separated list of AMQP URLs (what
// amqpbus.Dial takes): the flag given once replaces the default, given again it adds to
// the list, and each value may itself be a comma-separated list. The environment variable
// is one value, so FUNCATRON_RABBIT_URL=amqp://a/,amqp://b/ names two brokers.
func URLListVar(fs *flag.FlagSet, p *string, name, usage string) {
	fs.Var(&urlList{p: p}, name, usage)
}

type urlList struct {
	p   *string
	set bool // a value was given: the next one adds to it
}

// String is the list as --help shows the default (set before any flag or variable is read:
// never a password of the user's).
func (l *urlList) String() string {
	if l.p == nil {
		return ""
	}
	return *l.p
}

func (l *urlList) Set(s string) error {
	if l.set && *l.p != "" {
		s = *l.p + "," + s
	}
	*l.p, l.set = s, true
	return nil
}

// AMQPURLs records a problem for an empty list and for each URL of it that AMQPURL refuses.
func (p *Problems) AMQPURLs(list string) {
	urls := amqpbus.SplitURLs(list)
	if len(urls) == 0 {
		p.Add("--rabbit-url: no broker URL given")
	}
	for _, u := range urls {
		p.AMQPURL(u)
	}
}
