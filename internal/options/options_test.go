package options

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParsePrecedence(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	url := fs.String("rabbit-url", "amqp://default", "")
	queue := fs.String("tron-queue", "for_tron", "")
	wait := fs.Duration("enable-wait", 10*time.Second, "")
	listen := fs.String("listen", "127.0.0.1:3000", "")
	env := []string{"FUNCATRON_RABBIT_URL=amqp://env", "TRON_QUEUE=q2", "FUNCATRON_ENABLE_WAIT=3s", "FUNCATRON_LISTEN=env:1"}
	if err := Parse(fs, []string{"--listen", "flag:2"}, env, map[string][]string{"tron-queue": {"TRON_QUEUE"}}); err != nil {
		t.Fatal(err)
	}
	if *url != "amqp://env" || *queue != "q2" || *wait != 3*time.Second || *listen != "flag:2" {
		t.Errorf("got url=%s queue=%s wait=%s listen=%s", *url, *queue, *wait, *listen)
	}
}

func TestParseBadEnvValue(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Duration("enable-wait", time.Second, "")
	err := Parse(fs, nil, []string{"FUNCATRON_ENABLE_WAIT=soon"}, nil)
	if err == nil || !strings.Contains(err.Error(), "FUNCATRON_ENABLE_WAIT") {
		t.Errorf("Parse with a bad env value = %v, want an error naming the variable", err)
	}
}
