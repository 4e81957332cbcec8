// Package kinds lists the bundle kinds built into the runner binary, so that the runner
// core (package runner) never names one.
package kinds

import (
	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/runner/exec"
	"github.com/funcatron/funcatron/runner/gilmour"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/funcatron/funcatron/runner/zbus"
)

// All returns a fresh registry of every built-in kind.
func All() kind.Registry {
	return kind.Registry{
		bundles.KindExec:    exec.Kind{},
		bundles.KindGilmour: gilmour.Kind{},
		bundles.KindZbus:    zbus.Kind{},
	}
}
