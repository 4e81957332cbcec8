package options

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/funcatron/funcatron/internal/protocol"
)

func TestCodecVar(t *testing.T) {
	codec := protocol.EDN
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	CodecVar(fs, &codec, "codec", "")
	if def := fs.Lookup("codec").DefValue; def != "edn" {
		t.Errorf("default shown as %q, want edn", def)
	}
	if err := fs.Parse([]string{"--codec", "JSON"}); err != nil || codec != protocol.JSON {
		t.Errorf("--codec JSON: %v, codec %q", err, codec)
	}
	if err := fs.Parse([]string{"--codec", "xml"}); err == nil || codec != protocol.JSON {
		t.Errorf("--codec xml: %v, codec %q; want an error and the codec unchanged", err, codec)
	}
}

func TestQueueTypeVar(t *testing.T) {
	q := protocol.QueueClassic
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	QueueTypeVar(fs, &q, "queue-type", "")
	if def := fs.Lookup("queue-type").DefValue; def != "classic" {
		t.Errorf("default shown as %q, want classic", def)
	}
	if err := fs.Parse([]string{"--queue-type", "quorum"}); err != nil || q != protocol.QueueQuorum {
		t.Errorf("--queue-type quorum: %v, queue type %q", err, q)
	}
	if err := fs.Parse([]string{"--queue-type", "fifo"}); err == nil || q != protocol.QueueQuorum {
		t.Errorf("--queue-type fifo: %v, queue type %q; want an error and the type unchanged", err, q)
	}
	var p Problems
	p.QueueType("fifo")
	if p.Err() == nil || !strings.Contains(p.Err().Error(), "--queue-type") {
		t.Errorf("QueueType(fifo) = %v, want a problem naming --queue-type", p.Err())
	}
}
