package amqpbus

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// TestMissingExchangeSparesQueuePublishes: a runner started before any Tron ships its logs
// to funcatron.logging, which only the Tron declares; each such publish is a 404 channel
// error. Here an exchange is declared and deleted, and publishes to it go on while 16
// goroutines publish 2000 answers to a queue on the same Conn (as a runner's requests
// do): every answer is confirmed and in the queue, none is unconfirmed (which would
// requeue its request) or lost, while every publish to the deleted exchange fails.
func TestMissingExchangeSparesQueuePublishes(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 60*time.Second)
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	gone := queueName(t)
	ch := rawChannel(t, c)
	if err := ch.ExchangeDeclare(gone, "topic", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDelete(gone, false, false); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var refused, accepted atomic.Int64
	var logs sync.WaitGroup
	logs.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := c.Publish(ctx, Publishing{Exchange: gone, Key: "info", Body: []byte(`{"msg":"x"}`)}); err != nil {
				refused.Add(1)
			} else {
				accepted.Add(1)
			}
		}
	})

	const answers, publishers = 2000, 16
	var failed atomic.Int64
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range answers / publishers {
				body := []byte(strconv.Itoa(p*answers + i))
				if err := c.Publish(ctx, Publishing{Key: q.Name, Body: body}); err != nil {
					if failed.Add(1) <= 5 {
						t.Errorf("answer %d/%d: %v", p, i, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	logs.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d answers not confirmed while publishes to a deleted exchange failed", n, answers)
	}
	if refused.Load() < 5 || accepted.Load() > 0 {
		t.Errorf("publishes to the deleted exchange: %d refused, %d accepted; want several refused, none accepted",
			refused.Load(), accepted.Load())
	}
	if got := queueLength(t, c, q.Name); got != answers-int(failed.Load()) {
		t.Errorf("queue holds %d answers, %d were confirmed", got, answers-int(failed.Load()))
	}
	t.Logf("%d publishes to the deleted exchange refused meanwhile", refused.Load())
}
