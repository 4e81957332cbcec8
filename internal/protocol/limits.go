// Bounded decoding (spec/protocol.md §7 "Decoders are bounded"): what a message may hold
// before a decoder is let at it. Every receiver reads untrusted bytes (anyone who can
// publish to the broker can fill any queue), and the EDN decoder recurses once per nesting
// level and per tag: 12 MB of `[` overflowed the Go stack, a fatal error recover cannot
// catch. So the shape of a body is checked first by a cheap, non-recursive scan.

package protocol

import "bytes"

// The bounds. A message over one of them is refused (an *Error with CodeTooLarge,
// CodeTooDeep or CodeTooMany) before it is decoded.
const (
	// DefaultMaxMessageBytes is the default of `--max-message-bytes` (Tron and runner) and
	// of the frontend's frame limit: 16 MiB, the smallest round size above the largest
	// message the system itself makes: a `service` for a request body at nginx's
	// client_max_body_size (10 MiB, base64: 13.4 MiB, plus fields) and its echo `answer`.
	// docs/security.md "Bounded input" gives the relation of all the limits.
	DefaultMaxMessageBytes = 16 << 20
	// MaxDepth bounds nesting: collections inside collections, plus every EDN tag (`#inst`)
	// and discard (`#_`), which the EDN decoder also reads recursively. The catalogue's
	// messages nest at most 4 deep; the rest is room for props, which are the user's JSON.
	MaxDepth = 100
	// MaxItems bounds the elements of one collection (a map's keys and values count apart;
	// in JSON, the commas at one level are counted). The largest collections the system
	// makes are request headers and query args, which nginx keeps to a few thousand.
	MaxItems = 1 << 16
)

// Strings have no bound of their own: decoding never makes a string longer than its
// encoding (escapes and base64 shrink), so the message bound is the string bound.

// New codes for bounded decoding.
const (
	// CodeTooLarge: the message is over the receiver's --max-message-bytes.
	CodeTooLarge Code = "E_TOO_LARGE"
	// CodeTooDeep: the message nests deeper than MaxDepth.
	CodeTooDeep Code = "E_TOO_DEEP"
	// CodeTooMany: a collection of the message has more than MaxItems elements.
	CodeTooMany Code = "E_TOO_MANY"
)

// CheckSize refuses a body over maxBytes (≤ 0: DefaultMaxMessageBytes) with CodeTooLarge.
// Receivers call it before anything else looks at the body.
func CheckSize(body []byte, maxBytes int) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	if len(body) > maxBytes {
		return errorf(CodeTooLarge, "", nil, "message of %d bytes is over the limit of %d", len(body), maxBytes)
	}
	return nil
}

// CheckShape refuses a body of codec c that nests deeper than MaxDepth or has a
// collection of more than MaxItems elements. It reads the body once, without recursion,
// and understands just enough of each syntax to never be fooled: brackets inside JSON and
// EDN strings, EDN comments (`;` to the end of the line) and EDN character literals (`\(`,
// `\"`) are not structure; EDN tags and discards count as nesting. When unsure it counts
// more, never less: it only has to be safe, the decoder still validates the body.
func CheckShape(c Codec, body []byte) error {
	if e := checkShape(c, body); e != nil {
		return e
	}
	return nil
}

func checkShape(c Codec, body []byte) *Error {
	s := shapeScan{edn: c == EDN}
	return s.scan(body)
}

// shapeScan is the state of one CheckShape.
type shapeScan struct {
	edn   bool
	depth int
	tags  int               // EDN tags and discards seen so far: each may add a level
	items [MaxDepth + 2]int // elements (EDN) or commas (JSON) per open collection
	atom  bool              // EDN: inside a symbol, keyword or number
}

func (s *shapeScan) scan(b []byte) *Error {
	for i := 0; i < len(b); i++ {
		var e *Error
		switch c := b[i]; c {
		case '"':
			if e = s.item(); e == nil {
				i = stringClose(b, i)
			}
			s.atom = false
		case '{', '[':
			e = s.open()
		case '}', ']':
			s.close()
		case '(', ')': // a list in EDN; in JSON an error the decoder reports
			if s.edn && c == '(' {
				e = s.open()
			} else if s.edn {
				s.close()
			}
		case ',':
			if !s.edn {
				e = s.count()
			}
			s.atom = false
		default:
			if s.edn {
				i, e = s.ednByte(b, i)
			}
		}
		if e != nil {
			return e
		}
	}
	return nil
}

// ednByte handles a byte of EDN outside strings and brackets; it returns the index of the
// last byte it consumed.
func (s *shapeScan) ednByte(b []byte, i int) (int, *Error) {
	switch c := b[i]; {
	case c == ';': // a comment: nothing until the end of the line is structure
		s.atom = false
		if n := bytes.IndexByte(b[i:], '\n'); n >= 0 {
			return i + n, nil
		}
		return len(b), nil
	case c == '\\': // a character literal: the next byte is the character, whatever it is
		e := s.item()
		s.atom = true
		return i + 1, e
	case c == '#':
		if i+1 < len(b) && b[i+1] == '{' {
			return i + 1, s.open()
		}
		s.atom = false
		return i, s.tag()
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c >= 0x80:
		// (a non-ASCII byte may be a Unicode space, which separates elements: count
		// what follows as a new element, erring on the side of more)
		s.atom = false
		return i, nil
	case !s.atom:
		s.atom = true
		return i, s.item()
	}
	return i, nil
}

// item counts the start of an EDN element in the innermost collection.
func (s *shapeScan) item() *Error {
	if !s.edn {
		return nil
	}
	return s.count()
}

func (s *shapeScan) count() *Error {
	s.items[s.depth]++
	if s.items[s.depth] > MaxItems {
		return errorf(CodeTooMany, "", nil, "a collection has more than %d elements", MaxItems)
	}
	return nil
}

func (s *shapeScan) open() *Error {
	if e := s.item(); e != nil {
		return e
	}
	s.atom = false
	s.depth++
	if s.depth+s.tags > MaxDepth {
		return errorf(CodeTooDeep, "", nil, "the message nests deeper than %d levels", MaxDepth)
	}
	s.items[s.depth] = 0
	return nil
}

func (s *shapeScan) close() {
	s.atom = false
	if s.depth > 0 { // an unbalanced closer is the decoder's error to report
		s.depth--
	}
}

func (s *shapeScan) tag() *Error {
	if e := s.item(); e != nil {
		return e
	}
	s.tags++
	if s.depth+s.tags > MaxDepth {
		return errorf(CodeTooDeep, "", nil, "the message nests deeper than %d levels (EDN tags count)", MaxDepth)
	}
	return nil
}

// stringClose returns the index of the quote that closes the string opening at b[i]
// (len(b) when it does not close). A backslash escapes the byte after it, in JSON and EDN.
// Each byte is looked at a bounded number of times, by IndexByte: a 14 MB base64 body with
// lua-cjson's `\/` every 64 bytes costs about two memchr passes.
func stringClose(b []byte, i int) int {
	for j := i + 1; ; {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return len(b)
		}
		q += j
		if !escapedAt(b, j, q) {
			return q
		}
		j = q + 1
	}
}

// escapedAt tells whether the quote at b[q] is escaped, walking the backslashes of b[j:q]
// (j is not inside an escape).
func escapedAt(b []byte, j, q int) bool {
	for {
		bs := bytes.IndexByte(b[j:q], '\\')
		if bs < 0 {
			return false
		}
		j += bs + 2 // the backslash and the byte it escapes
		if j > q {
			return true
		}
	}
}
