// The records framing on AMQP (spec/protocol.md §8): two transport headers say that a
// message holds records. RabbitMQ's STOMP adapter maps STOMP headers to the AMQP headers
// table and back; a STOMP client sends strings, so that is what Publishing gets too.

package amqpbus

import (
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
)

// RecordCount tells a delivery's framing: 0 for the catalogue's single document (no
// fc-framing header), else the number of records its fc-records header gives. A records
// message whose count is missing or unreadable, or an unknown fc-framing, is a
// *protocol.Error with CodeFraming.
func (d *Delivery) RecordCount() (int, error) {
	f, ok := d.Headers[protocol.HeaderFraming]
	if !ok {
		return 0, nil
	}
	if s, _ := f.(string); s != protocol.FramingRecords {
		return 0, &protocol.Error{Code: protocol.CodeFraming, Msg: "unknown " + protocol.HeaderFraming + " value"}
	}
	return protocol.ParseRecordCount(d.Headers[protocol.HeaderRecords])
}

// RecordsHeaders are the transport headers of a records message of n records.
func RecordsHeaders(n int) amqp.Table {
	return amqp.Table{protocol.HeaderFraming: protocol.FramingRecords, protocol.HeaderRecords: protocol.RecordsHeaderValue(n)}
}
