package servers

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestRedisStartsAndStops(t *testing.T) {
	r, err := NewRedis(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "SET k v\r\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if line != "+OK\r\n" {
		t.Errorf("SET answered %q", line)
	}
	r.Close()
	if _, err := net.DialTimeout("tcp", r.Addr(), 200*time.Millisecond); err == nil {
		t.Error("redis still accepts connections after Close")
	}
}
