package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Relay is a TCP relay on loopback to a server (a Redis, say) that a test can cut — its
// connections closed and its port refusing new ones: the server is unreachable, its data
// kept — and restore on the same address.
type Relay struct {
	Addr   string // host:port clients connect to
	t      testing.TB
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

// StartRelay relays a free loopback port to target until the test ends.
func StartRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{Addr: ln.Addr().String(), t: t, target: target}
	r.serve(ln)
	t.Cleanup(func() { r.Cut(); r.wg.Wait() })
	return r
}

// Cut closes every relayed connection and the listener.
func (r *Relay) Cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// Restore listens on Addr again.
func (r *Relay) Restore() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.Addr)
	if err != nil {
		r.t.Fatalf("listening again on %s: %v", r.Addr, err)
	}
	r.serve(ln)
}

func (r *Relay) serve(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.relay(ln, c)
		}
	}()
}

// relay connects c to the target, unless ln was cut meanwhile.
func (r *Relay) relay(ln net.Listener, c net.Conn) {
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != ln { // cut while this one was being accepted
		c.Close()
		up.Close()
		return
	}
	r.conns = append(r.conns, c, up)
	r.wg.Add(2)
	go func() { defer r.wg.Done(); io.Copy(up, c); up.Close() }()
	go func() { defer r.wg.Done(); io.Copy(c, up); c.Close() }()
}
