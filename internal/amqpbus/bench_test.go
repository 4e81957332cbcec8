package amqpbus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// BenchmarkPublishConfirmed measures confirmed publishes per second (each Publish waits
// for its broker confirm) of 1 KiB messages into a queue, by number of concurrent
// publishers and of shared confirm-mode channels. make bench prints msgs/s.
func BenchmarkPublishConfirmed(b *testing.B) {
	cases := []struct {
		channels, publishers  int
		mandatory, persistent bool
	}{
		{1, 1, false, false},
		{1, 32, false, false},
		{4, 1, false, false},
		{4, 32, false, false},
		{8, 32, false, false},
		{4, 32, true, false},
		{4, 32, false, true},
	}
	for _, bc := range cases {
		name := fmt.Sprintf("channels=%d/publishers=%d", bc.channels, bc.publishers)
		if bc.mandatory {
			name += "/mandatory"
		}
		if bc.persistent {
			name += "/persistent"
		}
		b.Run(name, func(b *testing.B) {
			benchPublish(b, bc.channels, bc.publishers, bc.mandatory, bc.persistent)
		})
	}
}

func benchPublish(b *testing.B, channels, publishers int, mandatory, persistent bool) {
	c := dial(b, Options{PublishChannels: channels})
	q := boundedQueue(b, c, persistent)
	body := make([]byte, 1024)
	publishConcurrently(b, publishers, func() error {
		return c.Publish(context.Background(), Publishing{Key: q, Body: body, Mandatory: mandatory, Persistent: persistent})
	})
}

// BenchmarkPublishChannelPerMessage is the baseline the pool is measured against: each
// publish opens its own confirm-mode channel, publishes, waits for the confirm, closes.
func BenchmarkPublishChannelPerMessage(b *testing.B) {
	for _, publishers := range []int{1, 32} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			c := dial(b, Options{})
			q := boundedQueue(b, c, false)
			body := make([]byte, 1024)
			publishConcurrently(b, publishers, func() error {
				return publishOnOwnChannel(context.Background(), c, q, body)
			})
		})
	}
}

// boundedQueue declares an exclusive queue without consumer for a benchmark to publish
// into and returns its name: bounded, the broker drops the oldest, so a long run does not
// fill its memory.
func boundedQueue(b *testing.B, c *Conn, durable bool) string {
	q := QueueSpec{Name: queueName(b), Durable: durable, Exclusive: true,
		Args: amqp.Table{"x-max-length": int64(1000)}}
	if err := c.Declare(context.Background(), q); err != nil {
		b.Fatalf("Declare: %v", err)
	}
	return q.Name
}

// publishConcurrently is the timed part of the publish benchmarks: publish is called b.N
// times in all, from publishers goroutines at once; it reports msgs/s.
func publishConcurrently(b *testing.B, publishers int, publish func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := publish(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func publishOnOwnChannel(ctx context.Context, c *Conn, queue string, body []byte) error {
	ch, _, err := c.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{Body: body})
	if err != nil {
		return err
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		return fmt.Errorf("not confirmed: %v", err)
	}
	return nil
}
