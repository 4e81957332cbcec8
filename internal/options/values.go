// This file holds the flag types of options with a fixed set of values (--codec,
// --queue-type): a value outside the set does not parse, so the daemon exits 2 naming it.

package options

import (
	"errors"
	"flag"

	"github.com/funcatron/funcatron/internal/protocol"
)

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

// QueueTypeVar binds a --queue-type style flag to p: it parses "classic" or "quorum"
// (protocol.ParseQueueType, for which "" is classic).
func QueueTypeVar(fs *flag.FlagSet, p *protocol.QueueType, name, usage string) {
	fs.Var((*queueTypeValue)(p), name, usage)
}

type queueTypeValue protocol.QueueType

func (q *queueTypeValue) String() string { return string(*q) }

func (q *queueTypeValue) Set(s string) error {
	v, ok := protocol.ParseQueueType(s)
	if !ok {
		return errors.New("want classic or quorum")
	}
	*q = queueTypeValue(v)
	return nil
}
