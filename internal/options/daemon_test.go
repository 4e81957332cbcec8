package options

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/funcatron/funcatron/internal/logging"
	"io"
	"strings"
	"testing"

	"github.com/funcatron/funcatron/internal/protocol"
)

type service struct{ err error }

func (s service) Run(context.Context) error { return s.err }

// daemon is a Daemon with one --codec option whose New fails with newErr.
func daemon(codec *protocol.Codec, newErr error) Daemon {
	return Daemon{
		Name:    "d",
		Summary: "d: a test daemon",
		Flags:   func(fs *flag.FlagSet) { CodecVar(fs, codec, "codec", "a codec") },
		New:     func(*logging.Logs) (Service, error) { return service{}, newErr },
	}
}

func TestDaemonExitCodes(t *testing.T) {
	taken := errors.New("listening on 127.0.0.1:1: address already in use")
	tests := []struct {
		name   string
		args   []string
		newErr error
		want   int
	}{
		{"runs", []string{"--codec=json"}, nil, 0},
		{"help", []string{"--help"}, nil, 0},
		{"bad codec", []string{"--codec=xml"}, nil, 2},
		{"bad log level", []string{"--log-level=loud"}, nil, 2},
		{"stray argument", []string{"serve"}, nil, 2},
		{"invalid option from New", nil, Invalid(errors.New("--x: must be positive")), 2},
		{"failure from New", nil, taken, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			codec := protocol.EDN
			if got := daemon(&codec, tt.newErr).Run(context.Background(), tt.args, nil, io.Discard); got != tt.want {
				t.Errorf("exit %d, want %d", got, tt.want)
			}
		})
	}
}

func TestDaemonRunFailureExit1(t *testing.T) {
	codec := protocol.EDN
	d := daemon(&codec, nil)
	d.New = func(*logging.Logs) (Service, error) { return service{errors.New("broker gone")}, nil }
	var out strings.Builder
	if got := d.Run(context.Background(), nil, nil, &out); got != 1 || !strings.Contains(out.String(), "broker gone") {
		t.Errorf("exit %d, log %q; want 1 and the error logged", got, out.String())
	}
}

func TestProblemsWrapErrInvalid(t *testing.T) {
	var p Problems
	if p.Err() != nil {
		t.Fatal("no problems, yet an error")
	}
	p.AMQPURL("http://guest:s3cret@host/")
	p.Codec("xml")
	err := p.Err()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--rabbit-url") || !strings.Contains(err.Error(), "--codec") {
		t.Errorf("err = %v; want both problems, wrapping ErrInvalid", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the password is in %q", err)
	}
	if got := fmt.Sprint(Invalid(err)); got != err.Error() {
		t.Errorf("Invalid wraps twice: %q", got)
	}
}
