// Other twins over HTTP: requests POSTed to their /zbus-remote with msgbusd's retries,
// replies POSTed to their /zbus-reply.

package zbus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/funcatron/funcatron/internal/wait"
)

// replyTries is how often a reply is offered to its twin's /zbus-reply (msgbusd
// development: 3), replyPause the pause between tries.
const (
	replyTries = 3
	replyPause = time.Second
)

// sendRemote POSTs a request to its twin's /zbus-remote in the background (at most
// sendSlots at once: the caller waits for a slot). A failed send is retried after the
// retry interval while try allows (try is decremented), then the caller gets
// "could not send request and all retries done".
func (in *instance) sendRemote(fwd *Message) {
	if !in.sendSlot() {
		in.scheduleRetry(fwd)
		return
	}
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		defer func() { <-in.sends }()
		err := in.post(in.life, fwd.Dst[0], "/zbus-remote", fwd)
		if err == nil {
			return
		}
		in.log.Info("zbus: sending to a twin failed", "twin", fwd.Dst[0], "uid", fwd.UID, "tries_left", fwd.Try, "err", err)
		if time.Now().Unix() > fwd.Now+fwd.Exp {
			return // expired: the scrub answered the caller
		}
		if fwd.Try > 0 {
			fwd.Try--
			in.scheduleRetry(fwd)
			return
		}
		in.settle(fwd.UID, func(back *Message) *Message {
			return errorReply(back, fwd.Dst[0], in.twin, errAllRetries)
		})
	}()
}

// sendSlot waits for a free send slot; false when the instance stops first.
func (in *instance) sendSlot() bool {
	select {
	case in.sends <- struct{}{}:
		return true
	case <-in.life.Done():
		return false
	}
}

// replyRemote POSTs a reply of a local application to the twin that asked, in the
// background; a twin not in the directory, or that keeps failing, loses it (logged), as
// with msgbusd.
func (in *instance) replyRemote(m *Message) {
	to := m.Dst[0]
	if in.cfg.Twins[int(to)] == "" {
		in.log.Info("zbus: dropped a reply for a twin not in the directory", "twin", to, "uid", m.UID)
		return
	}
	if !in.sendSlot() {
		return
	}
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		defer func() { <-in.sends }()
		var err error
		for i := range replyTries {
			if err = in.post(in.life, to, "/zbus-reply", m); err == nil {
				return
			}
			if i+1 < replyTries && !wait.Pause(in.life, replyPause) {
				break
			}
		}
		in.log.Warn("zbus: a reply could not be given to its twin", "twin", to, "uid", m.UID, "err", err)
	}()
}

// post POSTs m as JSON to path under twin's base URL; any answer but 2xx is a failure.
func (in *instance) post(ctx context.Context, twin int64, path string, m *Message) error {
	base := in.cfg.Twins[int(twin)]
	if base == "" {
		return fmt.Errorf("twin %d is not in the directory", twin)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(m.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %d", path, resp.StatusCode)
	}
	return nil
}
