package servers

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// FreePorts returns n distinct loopback TCP ports that were free a moment ago.
//
// They come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range), not from
// binding port 0: an ephemeral port is also what the kernel hands out as the source port of
// the next outgoing connection, and the tests make thousands of those, so a RabbitMQ node that
// needs seconds to bind the port it was given found it taken by some client's connection. A
// port below the range is only ever taken by an explicit bind, which the random choice across
// some 20,000 ports and the callers' retries make unlikely to collide.
func FreePorts(n int) ([]int, error) {
	low, high := portRange()
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 200 {
			return nil, fmt.Errorf("finding %d free ports in %d-%d: too many taken", n, low, high)
		}
		port := low + rand.IntN(high-low)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// portRange is the range FreePorts picks from: from 10000 up to the start of the ephemeral
// range, or a range of its own when the ephemeral range starts too low to leave one.
func portRange() (low, high int) {
	low, high = 10000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	var eLow, eHigh int
	if _, err := fmt.Sscan(string(b), &eLow, &eHigh); err != nil {
		return low, high
	}
	if eLow-low >= 5000 {
		return low, eLow
	}
	if eHigh < 60000 {
		return eHigh + 1, 65000
	}
	return low, high
}
