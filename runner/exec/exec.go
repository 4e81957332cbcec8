// The exec Kind: starting an instance in the mode the manifest names.

package exec

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/runner/kind"
)

// Kind starts exec bundles. Its zero value is ready to use.
type Kind struct{}

var _ kind.Kind = Kind{}

// Start starts s's bundle in the mode its manifest names.
func (Kind) Start(ctx context.Context, s *kind.Spec) (kind.Instance, error) {
	if s.Bundle == nil || s.Bundle.Exec == nil {
		return nil, fmt.Errorf("bundle %s has no exec section", s.SHA)
	}
	return start(ctx, s, configOf(s, *s.Bundle.Exec), nil)
}

// start sets up the sandbox and starts cfg in its mode.
func start(ctx context.Context, s *kind.Spec, cfg *execConfig, prepare func(dir string) ([]string, error)) (kind.Instance, error) {
	if cfg.Mode != bundles.ModeHTTP && cfg.Mode != bundles.ModeCGI {
		return nil, fmt.Errorf("exec mode %q: want http or cgi", cfg.Mode)
	}
	if len(cfg.Command) == 0 {
		return nil, fmt.Errorf("the exec command is empty")
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	env := execEnv{log: s.Log, grace: s.Grace, onRestart: s.OnRestart}
	if env.onRestart == nil {
		env.onRestart = func() {}
	}
	sb, err := newSandbox(s, cfg)
	if err != nil {
		return nil, err
	}
	env.sb = sb
	if prepare != nil {
		if cfg.Extra, err = prepare(sb.dir); err != nil {
			sb.close()
			return nil, err
		}
	}
	var inst kind.Instance
	if cfg.Mode == bundles.ModeHTTP {
		inst, err = startHTTP(ctx, cfg, env)
	} else {
		inst, err = startCGI(cfg, env)
	}
	if err != nil {
		sb.close()
		return nil, err
	}
	return inst, nil
}

// execConfig is the manifest's exec section (defaults and props applied by package
// bundles) plus what the runner adds.
type execConfig struct {
	bundles.ExecConfig

	Dir   string // the unpacked bundle
	SHA   string
	Props []byte   // the props as JSON
	Extra []string // more environment (StartNode's prepare)
}

func configOf(s *kind.Spec, c bundles.ExecConfig) *execConfig {
	return &execConfig{ExecConfig: c, Dir: s.Dir, SHA: s.SHA, Props: s.PropsJSON}
}

// execEnv is what the runner lends a started instance.
type execEnv struct {
	log       *slog.Logger
	grace     time.Duration // SIGTERM → SIGKILL
	onRestart func()        // a worker process is restarted (for the metric)
	sb        *sandbox      // uid, directories and output of the instance
}
