package options

import (
	"flag"
	"testing"
)

func TestURLListRepeatedAndCommaSeparated(t *testing.T) {
	cases := []struct {
		args, env []string
		want      string
	}{
		{nil, nil, "amqp://default/"},
		{nil, []string{"FUNCATRON_RABBIT_URL=amqp://a/,amqp://b/"}, "amqp://a/,amqp://b/"},
		{[]string{"--rabbit-url", "amqp://a/"}, nil, "amqp://a/"},
		{[]string{"--rabbit-url", "amqp://a/", "--rabbit-url", "amqp://b/,amqp://c/"}, []string{"FUNCATRON_RABBIT_URL=amqp://env/"}, "amqp://a/,amqp://b/,amqp://c/"},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		urls := "amqp://default/"
		URLListVar(fs, &urls, "rabbit-url", "")
		if err := Parse(fs, c.args, c.env, nil); err != nil {
			t.Fatal(err)
		}
		if urls != c.want {
			t.Errorf("args %q env %q: got %q, want %q", c.args, c.env, urls, c.want)
		}
	}
}

func TestURLListValidateChecksEach(t *testing.T) {
	var p Problems
	p.AMQPURLs("amqp://a/,http://b/")
	p.AMQPURLs(" , ")
	if len(p) != 2 {
		t.Errorf("got %d problems (%v), want one for http://b/ and one for the empty list", len(p), p.Err())
	}
}
