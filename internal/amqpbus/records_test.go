package amqpbus

import (
	"context"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
)

// TestRecordCount: the framing headers survive the broker, fc-records read as a string or
// an integer; no fc-framing is the catalogue form; anything else is a framing error.
func TestRecordCount(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 30*time.Second)
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	cases := []struct {
		id      string
		headers amqp.Table
		want    int
		bad     bool
	}{
		{"records-string", RecordsHeaders(3), 3, false},
		{"records-int", amqp.Table{protocol.HeaderFraming: protocol.FramingRecords, protocol.HeaderRecords: int32(7)}, 7, false},
		{"catalogue", nil, 0, false},
		{"no-count", amqp.Table{protocol.HeaderFraming: protocol.FramingRecords}, 0, true},
		{"zero-count", amqp.Table{protocol.HeaderFraming: protocol.FramingRecords, protocol.HeaderRecords: "0"}, 0, true},
		{"unknown-framing", amqp.Table{protocol.HeaderFraming: "lines", protocol.HeaderRecords: "1"}, 0, true},
	}
	for _, tc := range cases {
		if err := c.Publish(ctx, Publishing{Key: q.Name, Body: []byte("x"), MessageID: tc.id, Headers: tc.headers, Mandatory: true}); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan *Delivery, len(cases))
	consume(t, c, ConsumeSpec{Queue: q, Sequential: true}, func(_ context.Context, d *Delivery) {
		d.Settle(Ack)
		got <- d
	})
	for _, tc := range cases {
		d := <-got
		if d.MessageID != tc.id {
			t.Fatalf("got %s, want %s", d.MessageID, tc.id)
		}
		n, err := d.RecordCount()
		var pe *protocol.Error
		switch {
		case tc.bad && (!errors.As(err, &pe) || pe.Code != protocol.CodeFraming):
			t.Errorf("%s: err %v, want %s", tc.id, err, protocol.CodeFraming)
		case !tc.bad && (err != nil || n != tc.want):
			t.Errorf("%s: %d, %v; want %d", tc.id, n, err, tc.want)
		}
	}
}
