// What an ack's error says: the Tron passes it on to admin API clients.

package runner

import (
	"errors"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// urlPattern finds URLs in messages (the bundle download URL names the Tron's address).
var urlPattern = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^\s"']+`)

// hiddenAddress stands for a network address in an ack's error.
const hiddenAddress = "(address hidden)"

// ackError is the text of err for an ack. The Tron shows it to admin API clients (the
// answer of an enable call), so it says what failed but never where: file paths shrink to
// their last element (the runner's data dir is its own business) and network addresses
// (the Tron's download address, the broker's) and URLs are hidden. The runner logs the
// whole error.
func ackError(err error) string {
	msg := urlPattern.ReplaceAllString(err.Error(), hiddenAddress)
	walkErrors(err, func(e error) {
		var pe *fs.PathError
		var le *os.LinkError
		var oe *net.OpError
		var ue *url.Error
		switch {
		case errors.As(e, &pe) && pe == e:
			msg = strings.ReplaceAll(msg, pe.Path, filepath.Base(pe.Path))
		case errors.As(e, &le) && le == e:
			msg = strings.ReplaceAll(strings.ReplaceAll(msg, le.Old, filepath.Base(le.Old)), le.New, filepath.Base(le.New))
		case errors.As(e, &oe) && oe == e:
			for _, a := range []net.Addr{oe.Addr, oe.Source} {
				if a != nil && a.String() != "" {
					msg = strings.ReplaceAll(msg, a.String(), hiddenAddress)
				}
			}
		case errors.As(e, &ue) && ue == e:
			msg = strings.ReplaceAll(msg, ue.URL, hiddenAddress)
		}
	})
	return msg
}

// walkErrors calls fn on err and every error it wraps (Unwrap() error and Unwrap() []error).
func walkErrors(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, fn)
		}
	}
}
