package runner

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// TestAnswerHeaderForms (issue 14 c): a request that says "answer-headers": "pairs" (our
// frontend) gets its answer's headers as [name, value] pairs; one without (the 2017
// frontend, which does ngx.header[name] = value over them) gets the map form, a repeated
// header as an array. Both keep both Set-Cookie values, and the body stays last.
func TestAnswerHeaderForms(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/forms"
	sha := tr.upload(fnBundle(t, host, path, "workers: 1"))
	tr.enableOK(r.Inbox(), sha, host, path, protocol.Props{"greeting": "hi"})
	queue := protocol.RouteQueue(host, path)
	fe := newFrontend(t)
	for _, tc := range []struct {
		form, want string
	}{
		{"", `"headers":{`},
		{protocol.AnswerHeadersPairs, `"headers":[[`},
	} {
		svc := service(host, "GET", path+"/hello/bob", nil)
		svc.AnswerHeaders = tc.form
		id := fe.publish(queue, svc)
		a := fe.answer(id, 20*time.Second)
		fe.mu.Lock()
		raw := fe.raw[id]
		fe.mu.Unlock()
		if !bytes.Contains(raw, []byte(tc.want)) || !bytes.HasSuffix(raw, []byte(`"}}`)) {
			t.Errorf("answer-headers %q: answer %s, want %s and the body last", tc.form, raw, tc.want)
		}
		if tc.form == "" && !bytes.Contains(raw, []byte(`"Set-Cookie":["a=1","b=2"]`)) {
			t.Errorf("map form without Set-Cookie as an array: %s", raw)
		}
		if got := header(a, "Set-Cookie"); !slices.Equal(got, []string{"a=1", "b=2"}) {
			t.Errorf("answer-headers %q: Set-Cookie = %q", tc.form, got)
		}
	}
}
