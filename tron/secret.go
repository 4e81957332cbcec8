// This file holds the Tron's secrets: the admin token and the key that signs bundle URLs.

package tron

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Files of the data dir that hold secrets (mode 0600).
const (
	tokenFileName  = "token"
	urlKeyFileName = "url-key"
)

// loadToken returns the admin token: the content of o.TokenFile, else o.Token, else the one
// in dataDir/token, generated on first start (cmd/tron's help says this order). It logs
// where a generated token is, never it.
func loadToken(o *Options, log *slog.Logger) (string, error) {
	if o.TokenFile != "" {
		if o.Token != "" {
			log.Warn("both --token-file and $FUNCATRON_TOKEN are set; using --token-file", "file", o.TokenFile)
		}
		return readTokenFile(o.TokenFile)
	}
	if o.Token != "" {
		return o.Token, nil
	}
	path := filepath.Join(o.DataDir, tokenFileName)
	b, created, err := loadOrCreateSecret(path, func() ([]byte, error) {
		raw, err := randomBytes(32)
		return []byte(hex.EncodeToString(raw) + "\n"), err
	})
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if created {
		log.Info("generated the admin token; send it as 'Authorization: Bearer <token>'", "file", path)
	} else {
		log.Info("admin token read from the data dir", "file", path)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin token file %s is empty", path)
	}
	return tok, nil
}

// readTokenFile reads --token-file: private to its owner, not empty.
func readTokenFile(path string) (string, error) {
	if err := checkPrivate(path); err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading --token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--token-file %s is empty", path)
	}
	return tok, nil
}

// checkPrivate refuses a secret file that group or others may read or write: whoever can
// read it holds the secret (on a runner's host, that includes bundle code). The owner alone
// may (mode 0600 or 0400), as ssh insists for private keys.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is accessible by group or others (mode %04o): a secret must be private to its owner; run chmod 600 %s", path, perm, path)
	}
	return nil
}

// loadOrCreateSecret reads the file at path (refusing it when not private, see
// checkPrivate), or creates it mode 0600 with what gen returns.
func loadOrCreateSecret(path string, gen func() ([]byte, error)) (b []byte, created bool, err error) {
	b, err = os.ReadFile(path)
	if err == nil {
		if err := checkPrivate(path); err != nil {
			return nil, false, err
		}
		return b, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if b, err = gen(); err != nil {
		return nil, false, fmt.Errorf("generating %s: %w", path, err)
	}
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return nil, false, err
	}
	return b, true, nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// tokenEqual compares a presented token with the admin token in constant time (hashing
// both first, so not even the length leaks).
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// signer makes and checks signed bundle download URLs:
// /api/v1/bundle/<sha>?exp=<unix seconds>&sig=<hex HMAC-SHA256(key, sha + exp)>.
type signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// loadSigner reads the URL-signing key from dataDir/url-key, creating it on first start, so
// URLs handed out before a restart stay valid after it.
func loadSigner(dataDir string, ttl time.Duration) (*signer, error) {
	key, _, err := loadOrCreateSecret(filepath.Join(dataDir, urlKeyFileName), func() ([]byte, error) {
		return randomBytes(32)
	})
	if err != nil {
		return nil, fmt.Errorf("URL-signing key: %w", err)
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("URL-signing key in %s is too short (%d bytes)", dataDir, len(key))
	}
	return &signer{key: key, ttl: ttl, now: time.Now}, nil
}

func (s *signer) mac(sha, exp string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(sha))
	h.Write([]byte(exp))
	return h.Sum(nil)
}

// query returns the query string that authorizes downloading sha until now + ttl.
func (s *signer) query(sha string) string {
	exp := strconv.FormatInt(s.now().Add(s.ttl).Unix(), 10)
	return "exp=" + exp + "&sig=" + hex.EncodeToString(s.mac(sha, exp))
}

// verify checks a signature: valid for sha, not expired, and not further in the future than
// a URL this Tron hands out (a leaked key aside, that bounds how long a URL lives).
func (s *signer) verify(sha, exp, sig string) error {
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return errors.New("bad exp")
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(sha, exp)) {
		return errors.New("bad signature")
	}
	now := s.now()
	switch {
	case now.Unix() > n:
		return errors.New("signed URL expired")
	case n > now.Add(s.ttl+time.Minute).Unix():
		return errors.New("signed URL expiry too far ahead")
	}
	return nil
}
