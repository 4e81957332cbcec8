// Package protocol is Funcatron's wire format: every message of the bus (the Funcatron message
// catalogue, spec/protocol.md §3) as a Go type with the catalogue's kebab-case field names,
// the JSON and EDN codecs chosen by content type, and the queue and exchange names.
//
// records.go holds the records framing of spec/protocol.md §8 (several requests or answers
// in one message, bodies raw): SplitRecords cuts a message into records without copying
// their bodies, Record.DecodeService / DecodeAnswer decode one, AppendServiceRecord /
// AppendAnswerRecord write one; testdata/golden/records-*.bin pin the framing (with a .json
// description each, which the Lua frontend's specs read too).
//
// sign.go holds the signing of control messages (spec/protocol.md §7): the fc-* headers,
// the HMAC, and Verifier with its replay cache (replay.go); testdata/sign-vectors.json are
// the golden vectors the Lua frontend is tested against too.
//
// It does no I/O and must not import an AMQP client (`make lint` checks this): the transport
// lives in internal/amqpbus. Decoding never panics; it returns *Error with a stable Code.
// It is bounded (limits.go): receivers check a body's size first (CheckSize, their
// --max-message-bytes), and Decode (Unmarshal for bodies outside the catalogue: the
// configuration RPC, log records) refuses a body nested past MaxDepth or with a
// collection past MaxItems before the decoder sees it.
//
// Decisions where the spec is silent:
//   - A body without a content type is sniffed: after `{` a `"` means JSON, a `:` means EDN.
//   - Maps of data (props, stats, headers, uri-args) accept string or keyword keys in EDN and
//     are written with string keys; message fields are always keywords.
//   - `body` fields are base64 strings in both codecs (EDN gets a plain string, not #base64).
//     A raw body travels only in a record (body-length, `body-base64-encoded` false); a
//     record that carries a `body` field or says base64 is refused.
//   - The framing reads a record's body-length without decoding its line (topMembers): an
//     escaped key, or a line that is no object, is a broken framing (the whole message is
//     unusable), while a line that frames but does not decode spoils only its record. The
//     decoded body-length must equal the framing's.
//   - A route entry without a host is written `"host": null` (EDN nil) wherever a route entry
//     goes (route tables, runners' heartbeats, GET /api/v1/routes): one spelling of "any
//     host" on the wire; null and an absent host decode as "" (routehost.go).
//   - `table-version` is an unsigned counter that starts at 1 with the first change; the Tron
//     persists it with its state, so it never goes backwards across a restart. A frontend's
//     `ack` of a route message names the message (ack-id = its msg-id), not the version: the
//     Tron maps the one to the other per frontend.
//   - `answer-headers` is an addition to the service message: "pairs" asks for pairs, any
//     other value or none for the map form. In the map form, names that differ only in case
//     are one header (nginx's ngx.header is case-insensitive), spelt as first given, values in
//     order; decoding a map yields pairs in name order (answerheaders.go).
//   - `set-statsd` is decoded (the catalogue names it) but no longer sent: the StatsD target
//     travels as the configuration key `statsd` over funcatron.configuration
//     (internal/rtconfig), the one way to change configuration at run time.
package protocol
