// This file is the Tron's durable state: which bundles are enabled, with which props, in
// which order, and the StatsD target. Membership is not stored: it is rebuilt from messages.

package tron

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/funcatron/funcatron/internal/protocol"
)

const (
	stateFileName = "state.json"
	stateVersion  = 1
)

// enabledBundle is one enabled bundle. Seq orders enables: a larger Seq was enabled later.
type enabledBundle struct {
	SHA       string         `json:"sha"`
	Host      string         `json:"host"`
	Path      string         `json:"path"`
	Props     protocol.Props `json:"props"`
	Seq       uint64         `json:"seq"`
	EnabledAt int64          `json:"enabled-at"` // epoch milliseconds
}

// Queue is the route queue the bundle is served on.
func (e enabledBundle) Queue() string { return protocol.RouteQueue(e.Host, e.Path) }

// state is the content of the state file.
type state struct {
	Version int    `json:"version"`
	Seq     uint64 `json:"seq"` // the last Seq handed out
	// TableVersion is the route table's version, raised with every change of Enabled
	// (routetable.go).
	TableVersion uint64                 `json:"table-version"`
	Enabled      []enabledBundle        `json:"enabled"`
	Statsd       *protocol.StatsdTarget `json:"statsd,omitempty"`
}

// clone returns a deep enough copy to be changed without touching s.
func (s state) clone() state {
	s.Enabled = slices.Clone(s.Enabled)
	if s.Statsd != nil {
		st := *s.Statsd
		s.Statsd = &st
	}
	return s
}

// find returns the index of sha in the enabled list, or -1.
func (s *state) find(sha string) int {
	return slices.IndexFunc(s.Enabled, func(e enabledBundle) bool { return e.SHA == sha })
}

func statePath(dataDir string) string { return filepath.Join(dataDir, stateFileName) }

// loadState reads the state file; a missing file is the empty state of a first start.
func loadState(dataDir string) (state, error) {
	s := state{Version: stateVersion}
	b, err := os.ReadFile(statePath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decoding state file %s: %w", statePath(dataDir), err)
	}
	if s.Version != stateVersion {
		return s, fmt.Errorf("state file %s has version %d, this Tron reads %d", statePath(dataDir), s.Version, stateVersion)
	}
	slices.SortFunc(s.Enabled, func(a, b enabledBundle) int { return compareSeq(a.Seq, b.Seq) })
	return s, nil
}

// saveState writes the state file atomically.
func saveState(dataDir string, s state) error {
	s.Version = stateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	if err := writeFileAtomic(statePath(dataDir), b, 0o600); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
