package rtconfig

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestBodiesBounded: a request signed with the runner key whose body nests deeper than
// protocol.MaxDepth, has a collection wider than protocol.MaxItems or is over
// maxBodyBytes is refused (counted as undecodable, never acted on) like on every other
// consumer; the same request with a small extra field is taken.
func TestBodiesBounded(t *testing.T) {
	key := []byte("rtconfig-test-key-0123456789abcdef")
	var refused []string
	e := NewEndpoint(nil, key, "RU-test.config", Node{ID: "n1"}, testenv.Logger(t), func(r string) { refused = append(refused, r) })
	dest := protocol.ConfigurationExchange + "/" + MethodGet
	deep := strings.Repeat("[", protocol.MaxDepth) + strings.Repeat("]", protocol.MaxDepth)
	wide := "[" + strings.Repeat("1,", protocol.MaxItems+1) + "1]"
	big := `"` + strings.Repeat("x", maxBodyBytes) + `"`
	for _, tc := range []struct {
		what, junk string
		ok         bool
	}{
		{"a small extra field", `[1,2]`, true},
		{"nested deep", deep, false},
		{"a wide list", wide, false},
		{"over maxBodyBytes", big, false},
	} {
		refused = nil
		var req Request
		_, ok := e.verify(signedRequest(t, key, dest, tc.junk), dest, &req.Header, &req)
		if ok != tc.ok {
			t.Errorf("%s: taken %v, want %v", tc.what, ok, tc.ok)
		}
		if !tc.ok && (len(refused) != 1 || refused[0] != "undecodable") {
			t.Errorf("%s: counted %v, want [undecodable]", tc.what, refused)
		}
	}
}

// signedRequest is a config-get for dest, signed with key, with an extra field junk.
func signedRequest(t *testing.T, key []byte, dest, junk string) *amqpbus.Delivery {
	t.Helper()
	h := protocol.Header{Action: ActionGet, MsgID: fmt.Sprintf("m-%d", time.Now().UnixNano()), At: time.Now().UnixMilli()}
	body := []byte(fmt.Sprintf(`{"action":%q,"msg-id":%q,"at":%d,"junk":%s}`, h.Action, h.MsgID, h.At, junk))
	headers := map[string]any{}
	for k, v := range protocol.SignHeaders(key, dest, &h, body) {
		headers[k] = v
	}
	return &amqpbus.Delivery{Body: body, Headers: headers, Exchange: protocol.ConfigurationExchange, RoutingKey: MethodGet}
}
