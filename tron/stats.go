// This file is the network view of GET /api/v1/stats and the StatsD target of POST.

package tron

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/rtconfig"
)

// statsView is the answer of GET /api/v1/stats. routes holds, per route queue, the runners'
// counters summed since this Tron started, and the requests in flight now (summed over the
// live runners' last heartbeats).
type statsView struct {
	Network  map[string]nodeView       `json:"network"`
	RouteMap []protocol.RouteEntry     `json:"route-map"`
	Routes   map[string]routeStatsView `json:"routes"`
	Statsd   *protocol.StatsdTarget    `json:"statsd,omitempty"`
}

// routeStatsView is one route queue's counters with the host and path it serves (absent
// for a queue no enabled bundle serves any more), so people need not decode queue ids.
type routeStatsView struct {
	protocol.RouteStats
	Host string `json:"host,omitempty"`
	Path string `json:"path,omitempty"`
}

func (t *Tron) stats() statsView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := statsView{
		Network:  make(map[string]nodeView, len(t.nodes)),
		RouteMap: routeTable(t.state.Enabled, t.runners),
		Routes:   make(map[string]routeStatsView, len(t.routeStats)),
		Statsd:   t.state.Statsd,
	}
	for inbox, n := range t.nodes {
		v.Network[inbox] = n.view()
	}
	for queue, s := range t.routeStats {
		v.Routes[queue] = routeStatsView{RouteStats: *s}
	}
	for _, n := range t.nodes {
		for queue, in := range n.Inflight {
			s := v.Routes[queue]
			s.Inflight += in
			v.Routes[queue] = s
		}
	}
	for _, e := range t.state.Enabled {
		if s, ok := v.Routes[e.Queue()]; ok {
			s.Host, s.Path = anyHost(e.Host), e.Path
			v.Routes[e.Queue()] = s
		}
	}
	return v
}

// anyHost is host, or "*" for a route of any host.
func anyHost(host string) string {
	if host == "" {
		return "*"
	}
	return host
}

// statsdRequest is the body of POST /api/v1/stats.
type statsdRequest struct {
	Enable *bool         `json:"enable"`
	Host   string        `json:"host"`
	Port   protocol.Port `json:"port"`
}

// statsdTarget is the current StatsD target, or nil when none was set.
func (t *Tron) statsdTarget() *protocol.StatsdTarget {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state.Statsd == nil {
		return nil
	}
	st := *t.state.Statsd
	return &st
}

// setStatsd is POST /api/v1/stats, the original's StatsD switch: a methods.set of the
// statsd key on every node (config.go), the one way to change configuration at run time.
func (t *Tron) setStatsd(ctx context.Context, req statsdRequest) (string, []string, error) {
	if req.Enable == nil || (*req.Enable && (req.Host == "" || req.Port <= 0 || req.Port > 65535)) {
		return "", nil, newAPIError(http.StatusBadRequest, "must be either enable=false or enable=true with host and port (1-65535)")
	}
	value, msg := rtconfig.StatsdOff, "StatsD disabled"
	if *req.Enable {
		value = net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port)))
		msg = fmt.Sprintf("StatsD enabled. Host: %s port: %d", req.Host, req.Port)
	}
	res, err := t.setEverywhere(ctx, configSetRequest{Key: rtconfig.KeyStatsd, Value: value})
	if err != nil {
		return "", nil, err
	}
	if len(res.Took) == 0 {
		return "", nil, newAPIError(http.StatusUnprocessableEntity, "no node took the StatsD target: %v", res.Refused)
	}
	return msg, res.Took, nil
}
