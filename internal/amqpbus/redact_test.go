package amqpbus

import (
	"context"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:xxxxx@127.0.0.1:5672/"},
		{"amqp://u:s3cr/et@h:5672/", "amqp://u:xxxxx@h:5672/"}, // unescaped '/': url.Parse fails
		{"amqp://u:s3cr#et@h/", "amqp://u:xxxxx@h/"},           // unescaped '#'
		{"amqp://u:p@ss@h/", "amqp://u:xxxxx@h/"},              // unescaped '@'
		{"amqps://u:%2Fx@h/vhost", "amqps://u:xxxxx@h/vhost"},  // escaped
		{"amqp://127.0.0.1:5672/", "amqp://127.0.0.1:5672/"},   // no userinfo
		{"amqp://user@127.0.0.1:5672/", "amqp://user@127.0.0.1:5672/"},
		{"u:secret@h", "u:xxxxx@h"}, // no scheme
	} {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Dial's error for a URL it cannot parse names the URL without its password (url.Parse's
// error quotes the URL, and for "u:s3cr/et@h" the "port" it complains about is the password).
func TestDialErrorHidesPassword(t *testing.T) {
	for _, raw := range []string{"amqp://u:s3cr/et@h:5672/", "amqp://u:s3cr#et@h:x/", "amqp://u:s3cr et@h/", "http://u:s3cret@h/"} {
		_, err := Dial(context.Background(), raw, Options{})
		if err == nil {
			t.Fatalf("Dial(%q) succeeded", raw)
		}
		if strings.Contains(err.Error(), "s3cr") {
			t.Errorf("Dial(%q) error shows the password: %v", raw, err)
		}
		if !strings.Contains(err.Error(), "u:xxxxx@h") {
			t.Errorf("Dial(%q) error does not name the redacted URL: %v", raw, err)
		}
	}
}
