// Run-time configuration of a runner (spec/protocol.md §5, internal/rtconfig): the log
// level and the StatsD target, read and changed over funcatron.configuration.

package runner

import (
	"context"
	"errors"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/rtconfig"
)

// configNode is the runner as rtconfig sees it.
func (r *Runner) configNode() rtconfig.Node {
	return rtconfig.Node{ID: r.inbox, Component: "runner", Get: r.configValues, Set: r.setConfig}
}

func (r *Runner) configValues() map[string]string {
	v := map[string]string{rtconfig.KeyStatsd: rtconfig.StatsdValue(r.statsd.addr())}
	if l := r.opts.Logs; l != nil {
		v[rtconfig.KeyLogLevel] = logging.LevelName(l.Level.Level())
	}
	return v
}

func (r *Runner) setConfig(key, value string) error {
	switch key {
	case rtconfig.KeyLogLevel:
		if r.opts.Logs == nil {
			return errors.New("this runner's log level cannot change at run time")
		}
		lv, err := logging.ParseLevel(value)
		if err != nil {
			return err
		}
		r.opts.Logs.Level.Set(lv)
		return nil
	case rtconfig.KeyStatsd:
		addr, err := rtconfig.ParseStatsd(value)
		if err != nil {
			return err
		}
		return r.statsd.set(addr)
	}
	return errors.New("unknown configuration key " + key + ": want " + rtconfig.KeyLogLevel + " or " + rtconfig.KeyStatsd)
}

// serveConfig answers funcatron.configuration on the runner's own queue until ctx ends.
func (r *Runner) serveConfig(ctx context.Context, conn *amqpbus.Conn) {
	e := rtconfig.NewEndpoint(conn, r.key, r.inbox+".config", r.configNode(), r.log,
		func(reason string) { r.metrics.refused.WithLabelValues(reason).Inc() })
	if err := e.Run(ctx); err != nil && ctx.Err() == nil {
		r.log.Error("serving funcatron.configuration", "err", err)
	}
}
