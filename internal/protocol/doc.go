// Package protocol is Funcatron's wire format: every message of the bus (the Funcatron message
// catalogue, spec/protocol.md §3) as a Go type with the catalogue's kebab-case field names,
// the JSON and EDN codecs chosen by content type, and the queue and exchange names.
//
// sign.go holds the signing of control messages (spec/protocol.md §7): the fc-* headers,
// the HMAC, and Verifier with its replay cache (replay.go); testdata/sign-vectors.json are
// the golden vectors the Lua frontend is tested against too.
//
// It does no I/O and must not import an AMQP client (`make lint` checks this): the transport
// lives in internal/amqpbus. Decoding never panics; it returns *Error with a stable Code.
// It is bounded (limits.go): receivers check a body's size first (CheckSize, their
// --max-message-bytes), and Decode refuses a body nested past MaxDepth or with a
// collection past MaxItems before the decoder sees it.
//
// Decisions where the spec is silent:
//   - A body without a content type is sniffed: after `{` a `"` means JSON, a `:` means EDN.
//   - Maps of data (props, stats, headers, uri-args) accept string or keyword keys in EDN and
//     are written with string keys; message fields are always keywords.
//   - `body` fields are base64 strings in both codecs (EDN gets a plain string, not #base64),
//     and `body-base64-encoded` false is refused rather than guessed at.
package protocol
