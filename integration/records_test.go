package integration

// The records framing of spec/protocol.md §8 as the fake runner of frontend_test.go speaks
// it: a records message holds fc-records records back to back, each its JSON on one line,
// "\n", then body-length raw bytes (answer.body-length for an answer).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	amqp "github.com/rabbitmq/amqp091-go"
)

// isRecords says whether a delivery is in records framing.
func isRecords(d amqp.Delivery) bool {
	return fmt.Sprint(d.Headers["fc-framing"]) == "records"
}

// recordCount reads the fc-records header, a string or an integer.
func recordCount(d amqp.Delivery) (int, error) {
	switch v := d.Headers["fc-records"].(type) {
	case string:
		return strconv.Atoi(v)
	case int32:
		return int(v), nil
	case int64:
		return int(v), nil
	}
	return 0, fmt.Errorf("fc-records %#v", d.Headers["fc-records"])
}

// splitRecords decodes the records of a records message: each record's JSON with its raw
// bytes in "_body".
func splitRecords(d amqp.Delivery) ([]msg, error) {
	n, err := recordCount(d)
	if err != nil {
		return nil, err
	}
	rest := d.Body
	var out []msg
	for i := 0; i < n; i++ {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("record %d: no line end", i)
		}
		var m msg
		if err := json.Unmarshal(rest[:nl], &m); err != nil {
			return nil, fmt.Errorf("record %d: %v", i, err)
		}
		size := 0
		if f, ok := m["body-length"].(float64); ok {
			size = int(f)
		}
		rest = rest[nl+1:]
		if size > len(rest) {
			return nil, fmt.Errorf("record %d: body-length %d past the end", i, size)
		}
		m["_body"] = append([]byte(nil), rest[:size]...)
		rest = rest[size:]
		out = append(out, m)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after %d records", len(rest), n)
	}
	return out, nil
}

// answerRecord turns an `answer` built by answer() into its record (JSON line and raw body),
// or reports false when it is not one that converts (a deliberately malformed answer stays
// in the catalogue's form).
func answerRecord(a msg) ([]byte, bool) {
	inner, ok := a["answer"].(msg)
	if !ok {
		return nil, false
	}
	var body []byte
	if b, present := inner["body"]; present {
		s, ok := b.(string)
		if !ok {
			return nil, false
		}
		var err error
		if body, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, false
		}
	}
	rec := msg{}
	for k, v := range a {
		rec[k] = v
	}
	in := msg{}
	for k, v := range inner {
		if k != "body" {
			in[k] = v
		}
	}
	in["body-length"] = len(body)
	rec["answer"] = in
	rec["body-base64-encoded"] = false
	line, err := json.Marshal(rec)
	if err != nil {
		return nil, false
	}
	return append(append(line, '\n'), body...), true
}

// recordsMessage joins records into one records message.
func recordsMessage(recs [][]byte) amqp.Publishing {
	return amqp.Publishing{
		ContentType: "application/json",
		Headers:     amqp.Table{"fc-framing": "records", "fc-records": int32(len(recs))},
		Body:        bytes.Join(recs, nil),
	}
}

// reqBody returns the body of a service message: raw from a record, base64-decoded from the
// catalogue's form.
func reqBody(svc msg) []byte {
	if b, ok := svc["_body"].([]byte); ok {
		return b
	}
	b, _ := base64.StdEncoding.DecodeString(str(svc["body"]))
	return b
}
