// This file closes the admin API's connections gently after an answer to a request fasthttp
// could not read (413 for an oversize upload, ...): the client may still be sending it.

package tron

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// lingerTime bounds how long a connection marked to linger reads what its client still sends.
const lingerTime = 5 * time.Second

// lingerListener hands out lingerConns.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

// lingerConn is a connection that, once marked by lingerOnClose, ends its sending side on
// Close, reads and drops what the client still sends (until it closes, or for lingerTime),
// and only then closes. fasthttp answers an oversize upload at once and closes while the
// client is still sending: a close with unread bytes makes the kernel reset the connection,
// and a client that had not read the 413 yet (Go's net/http, so cmd/funcatron) only saw
// "connection reset by peer".
type lingerConn struct {
	net.Conn
	linger atomic.Bool
}

func (c *lingerConn) Close() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && c.linger.Load() {
		if cw.CloseWrite() == nil && c.Conn.SetReadDeadline(time.Now().Add(lingerTime)) == nil {
			io.Copy(io.Discard, c.Conn)
		}
	}
	return c.Conn.Close()
}

// lingerOnClose marks conn (a lingerConn, else nothing happens) to close gently.
func lingerOnClose(conn net.Conn) {
	if c, ok := conn.(*lingerConn); ok {
		c.linger.Store(true)
	}
}
