package testenv

import (
	"net"
	"testing"
)

// TakenAddr is a loopback address a listener holds until the test ends: a daemon told to
// listen there must fail to start.
func TakenAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
