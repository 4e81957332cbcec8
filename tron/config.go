// Run-time configuration (spec/tron-api.md "Run-time configuration", internal/rtconfig):
// the Tron is a node of funcatron.configuration like every runner (its log level and its
// StatsD target), and the admin API's GET|POST /api/v1/config and POST /api/v1/stats go
// through methods.get / methods.set, so there is one way to change configuration at run
// time.
//
// Decision: `set-statsd` is no longer sent. The StatsD target is the configuration key
// `statsd` ("host:port" or "off"); the Tron keeps the last one set in its state file and
// gives it to each runner that awakes with a methods.set addressed to that runner alone.
// The protocol package still decodes set-statsd (the catalogue names it).

package tron

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/rtconfig"
)

// configWait bounds how long a configuration call waits for the nodes' answers.
const configWait = 3 * time.Second

// serveConfig runs the Tron's configuration endpoint on conn until ctx ends.
func (t *Tron) serveConfig(ctx context.Context, conn *amqpbus.Conn) {
	node := rtconfig.Node{ID: t.nodeID(), Component: "tron", Get: t.configValues, Set: t.setConfig}
	e := rtconfig.NewEndpoint(conn, t.keys.runner, "TR-"+uuid.NewString()+".config", node, t.log,
		func(reason string) { t.metrics.refused.WithLabelValues(reason).Inc() })
	t.config.Store(e)
	defer t.config.Store(nil)
	if err := e.Run(ctx); err != nil && ctx.Err() == nil {
		t.log.Error("serving funcatron.configuration", "err", err)
	}
}

func (t *Tron) configValues() map[string]string {
	v := map[string]string{rtconfig.KeyStatsd: rtconfig.StatsdOff}
	if st := t.statsdTarget(); st != nil && st.Enabled {
		v[rtconfig.KeyStatsd] = net.JoinHostPort(st.Host, strconv.Itoa(int(st.Port)))
	}
	if l := t.opts.Logs; l != nil {
		v[rtconfig.KeyLogLevel] = logging.LevelName(l.Level.Level())
	}
	return v
}

func (t *Tron) setConfig(key, value string) error {
	switch key {
	case rtconfig.KeyLogLevel:
		if t.opts.Logs == nil {
			return errors.New("this Tron's log level cannot change at run time")
		}
		lv, err := logging.ParseLevel(value)
		if err != nil {
			return err
		}
		t.opts.Logs.Level.Set(lv)
		return nil
	case rtconfig.KeyStatsd:
		addr, err := rtconfig.ParseStatsd(value)
		if err != nil {
			return err
		}
		return t.saveStatsd(addr)
	}
	return fmt.Errorf("unknown configuration key %q: want %s or %s", key, rtconfig.KeyLogLevel, rtconfig.KeyStatsd)
}

// saveStatsd keeps the StatsD target ("" = none) in the state file.
func (t *Tron) saveStatsd(addr string) error {
	target := protocol.StatsdTarget{}
	if addr != "" {
		host, port, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(port)
		target = protocol.StatsdTarget{Enabled: true, Host: host, Port: protocol.Port(n)}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.state.clone()
	st.Statsd = &target
	if err := saveState(t.opts.DataDir, st); err != nil {
		t.log.Error("saving state", "err", err)
		return errors.New("the Tron could not save its state")
	}
	t.state = st
	return nil
}

// configCall makes a configuration call, expecting an answer from this Tron and every
// live runner.
func (t *Tron) configCall(ctx context.Context, method string, req rtconfig.Request) ([]rtconfig.Answer, error) {
	e := t.config.Load()
	if e == nil {
		return nil, newAPIError(http.StatusServiceUnavailable, "the message bus is not connected; try again")
	}
	expect := len(req.Nodes)
	if expect == 0 {
		t.mu.Lock()
		expect = 1 + len(t.nodesOf(protocol.TypeRunner))
		t.mu.Unlock()
	}
	as, err := e.Call(ctx, method, req, expect, configWait)
	if err != nil {
		return nil, newAPIError(http.StatusServiceUnavailable, "configuration %s: %v", method, err)
	}
	return as, nil
}

// configView is one node in GET /api/v1/config.
type configView struct {
	Component string            `json:"component"`
	Values    map[string]string `json:"values"`
}

func (t *Tron) getConfig(ctx *fasthttp.RequestCtx) {
	as, err := t.configCall(t.runCtx, rtconfig.MethodGet, rtconfig.Request{})
	if err != nil {
		t.writeErr(ctx, err)
		return
	}
	nodes := make(map[string]configView, len(as))
	for _, a := range as {
		nodes[a.Node] = configView{Component: a.Component, Values: a.Values}
	}
	writeJSON(ctx, http.StatusOK, map[string]any{"nodes": nodes})
}

// configSetRequest is the body of POST /api/v1/config.
type configSetRequest struct {
	Key   string   `json:"key"`
	Value string   `json:"value"`
	Nodes []string `json:"nodes"`
}

// configSetResult says which nodes took a value and why the others did not.
type configSetResult struct {
	Key     string            `json:"key"`
	Value   string            `json:"value"`
	Took    []string          `json:"took"`
	Refused map[string]string `json:"refused"`
	Error   string            `json:"error,omitempty"` // when no node took it
}

func (t *Tron) postConfig(ctx *fasthttp.RequestCtx) {
	var req configSetRequest
	if err := decodeBody(ctx, &req); err != nil {
		t.writeErr(ctx, err)
		return
	}
	res, err := t.setEverywhere(t.runCtx, req)
	if err != nil {
		t.writeErr(ctx, err)
		return
	}
	status := http.StatusOK
	if len(res.Took) == 0 {
		status, res.Error = http.StatusUnprocessableEntity, fmt.Sprintf("no node took %s=%q: %v", req.Key, req.Value, res.Refused)
	}
	writeJSON(ctx, status, res)
}

// setEverywhere sends methods.set and sums up the answers.
func (t *Tron) setEverywhere(ctx context.Context, req configSetRequest) (*configSetResult, error) {
	if req.Key != rtconfig.KeyLogLevel && req.Key != rtconfig.KeyStatsd {
		return nil, newAPIError(http.StatusBadRequest, "key must be %s or %s", rtconfig.KeyLogLevel, rtconfig.KeyStatsd)
	}
	as, err := t.configCall(ctx, rtconfig.MethodSet, rtconfig.Request{Key: req.Key, Value: req.Value, Nodes: req.Nodes})
	if err != nil {
		return nil, err
	}
	res := &configSetResult{Key: req.Key, Value: req.Value, Took: []string{}, Refused: map[string]string{}}
	for _, a := range as {
		if a.OK {
			res.Took = append(res.Took, a.Node)
		} else {
			res.Refused[a.Node] = a.Error
		}
	}
	return res, nil
}

// tellStatsd gives a runner that just woke the StatsD target, when one is set.
func (t *Tron) tellStatsd(ctx context.Context, runner string) {
	st := t.statsdTarget()
	if st == nil || !st.Enabled {
		return
	}
	value := net.JoinHostPort(st.Host, strconv.Itoa(int(st.Port)))
	// A few tries: the runner binds its configuration queue while it sends its awake, so
	// the first request may reach no queue of it.
	go func() {
		var err error
		for try := 0; try < 3 && ctx.Err() == nil; try++ {
			if _, err = t.setEverywhere(ctx, configSetRequest{Key: rtconfig.KeyStatsd, Value: value, Nodes: []string{runner}}); err == nil {
				return
			}
		}
		t.log.Warn("giving a runner the StatsD target", "node", runner, "err", err)
	}()
}
