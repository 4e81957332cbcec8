// This file holds the keys that sign control messages (spec/protocol.md §7): the runner key
// and the frontend key, how the Tron signs what it sends and verifies what it receives.

package tron

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/buskey"
	"github.com/funcatron/funcatron/internal/protocol"
)

// Files of the data dir that hold the generated bus keys (mode 0600).
const (
	busKeyFileName      = "bus-key"
	frontendKeyFileName = "frontend-key"
)

// busKeys are the two keys: runner (Tron ↔ runners) and frontend (Tron ↔ frontends).
type busKeys struct {
	runner, frontend []byte
}

// loadBusKeys reads the key files given in the options, or the ones in the data dir
// (generated on first start), and logs where each is, never the key.
func (t *Tron) loadBusKeys() (err error) {
	if t.keys.runner, err = t.loadKey(t.opts.BusKeyFile, busKeyFileName, "--bus-key-file", "runners (--bus-key-file / FUNCATRON_BUS_KEY_FILE)"); err != nil {
		return err
	}
	if t.keys.frontend, err = t.loadKey(t.opts.FrontendKeyFile, frontendKeyFileName, "--frontend-key-file", "nginx (FUNCATRON_FRONTEND_KEY_FILE)"); err != nil {
		return err
	}
	// One key for both would let every frontend speak as a runner (the runner key is tried
	// first): the point of two keys is lost, so refuse it.
	if bytes.Equal(t.keys.runner, t.keys.frontend) {
		return fmt.Errorf("--bus-key-file and --frontend-key-file hold the same key: they must differ, or a frontend could pose as a runner")
	}
	return nil
}

func (t *Tron) loadKey(given, name, flag, who string) ([]byte, error) {
	if given != "" {
		return buskey.Load(given, flag)
	}
	path := filepath.Join(t.opts.DataDir, name)
	key, created, err := buskey.LoadOrCreate(path, name)
	if err != nil {
		return nil, err
	}
	if created {
		t.log.Info("generated a bus key; give this file to "+who, "file", path)
	}
	return key, nil
}

// newVerifier checks messages on the Tron queue: the runner key gives the runner role, the
// frontend key the frontend role; unsigned messages only with --accept-unsigned-frontends.
func (t *Tron) newVerifier() *protocol.Verifier {
	return &protocol.Verifier{
		Keys: []protocol.RoleKey{
			{Role: protocol.RoleRunner, Key: t.keys.runner},
			{Role: protocol.RoleFrontend, Key: t.keys.frontend},
		},
		AcceptUnsigned: t.opts.AcceptUnsignedFrontends,
		MaxSkew:        t.opts.MaxClockSkew,
	}
}

// Sign signs a message to a runner inbox with the runner key and to a frontend inbox with
// the frontend key: by the destination's role (the key its awake was verified with), else
// by the inbox's prefix. The Tron sends to nothing else.
func (k busKeys) Sign(to bus.Destination, h *protocol.Header, body []byte) (map[string]string, error) {
	role := to.Role
	if role == "" {
		switch {
		case strings.HasPrefix(to.Queue, protocol.RunnerInboxPrefix):
			role = protocol.RoleRunner
		case strings.HasPrefix(to.Queue, protocol.FrontendInboxPrefix):
			role = protocol.RoleFrontend
		}
	}
	switch role {
	case protocol.RoleRunner:
		return protocol.SignHeaders(k.runner, to.Queue, h, body), nil
	case protocol.RoleFrontend:
		return protocol.SignHeaders(k.frontend, to.Queue, h, body), nil
	}
	return nil, fmt.Errorf("no key for queue %q: neither a runner nor a frontend inbox", to.Queue)
}

// allowed tells whether a message signed by role (m.SignedBy) may speak for a node of type
// typ: the runner key for runners, the frontend key for frontends, and no key for a
// frontend only under --accept-unsigned-frontends. A refusal is counted and logged once
// per sender.
func (t *Tron) allowed(m bus.Message, typ string) bool {
	ok := false
	switch m.SignedBy {
	case protocol.RoleRunner:
		ok = typ == protocol.TypeRunner
	case protocol.RoleFrontend:
		ok = typ == protocol.TypeFrontend
	case "":
		ok = typ == protocol.TypeFrontend && t.opts.AcceptUnsignedFrontends
	}
	if !ok {
		t.metrics.refused.WithLabelValues(protocol.RefusedRole).Inc()
		t.warnOnce(m.ReplyTo, "role:"+m.SignedBy+":"+typ, "refused a control message: its key does not speak for that node type",
			"action", m.Type, "signed_by", orUnsigned(m.SignedBy), "type", typ)
	}
	return ok
}

func orUnsigned(role string) string {
	if role == "" {
		return "unsigned"
	}
	return role
}
