// Redaction: a broker URL carries its password, which must never reach a log or an error.
package amqpbus

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// redacted replaces a password in messages.
const redacted = "xxxxx"

// RedactURL returns raw with the password of its userinfo replaced by "xxxxx", for messages
// and logs. It works on the text rather than through url.Parse, which fails on exactly the
// URLs a user got wrong (a password with an unescaped '/', '#' or '@') and whose errors quote
// the URL.
func RedactURL(raw string) string {
	start, end, ok := passwordSpan(raw)
	if !ok {
		return raw
	}
	return raw[:start] + redacted + raw[end:]
}

// passwordSpan finds the password of raw's userinfo: after the scheme's "://" and the
// user name's ':', up to the last '@' (a password may hold an unescaped '@').
func passwordSpan(raw string) (start, end int, ok bool) {
	end = strings.LastIndex(raw, "@")
	if end < 0 {
		return 0, 0, false
	}
	from := 0
	if i := strings.Index(raw[:end], "://"); i >= 0 {
		from = i + len("://")
	}
	colon := strings.Index(raw[from:end], ":")
	if colon < 0 {
		return 0, 0, false
	}
	return from + colon + 1, end, true
}

// parseURI is amqp.ParseURI with errors that name the URL redacted. url.Parse's errors quote
// the URL or a piece of it (for "amqp://u:pa/ss@h" it complains of the port ":pa", which is
// a piece of the password), so they are replaced by a hint; amqp's own errors (scheme,
// whitespace, port number) quote nothing secret and are kept.
func parseURI(raw string) (amqp.URI, error) {
	uri, err := amqp.ParseURI(raw)
	if err == nil {
		return uri, nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = errors.New("not a valid URL (a '?', '#', '@', ':' or '/' in the user name or password must be percent-encoded)")
	}
	return uri, fmt.Errorf("parsing RabbitMQ URL %s: %w", RedactURL(raw), err)
}
