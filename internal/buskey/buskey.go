// Package buskey reads and creates the keys that sign control messages (spec/protocol.md §7):
// the runner key (--bus-key-file) and the frontend key (--frontend-key-file,
// FUNCATRON_FRONTEND_KEY_FILE for nginx).
//
// A key file holds the key as text: the HMAC key is the file's content without surrounding
// whitespace (a generated key is 64 hex digits, 256 random bits, and a newline), so the Lua
// frontend and the Go daemons read the same bytes. A key file must be mode 0600 or stricter
// (no group or other bits) and hold at least MinKeyBytes: anything else is refused with a
// message naming the file, never used.
package buskey

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 16

// Load reads the key in path (what: the option that named it, for messages).
func Load(path, what string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has mode %04o: a key file must be readable by its owner only (chmod 600 %s)", what, path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("%s %s holds %d bytes: a key needs at least %d", what, path, len(key), MinKeyBytes)
	}
	return key, nil
}

// LoadOrCreate reads the key in path, or creates the file (mode 0600) with a random key
// when it does not exist. created says which.
func LoadOrCreate(path, what string) (key []byte, created bool, err error) {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		key, err := Load(path, what)
		return key, false, err
	}
	if err := Create(path); err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	key, err = Load(path, what)
	return key, err == nil, err
}

// Create writes a new random key to path, mode 0600; it fails if path exists.
func Create(path string) error {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(hex.EncodeToString(raw) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}
