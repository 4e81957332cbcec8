package protocol

import (
	"bytes"
	"slices"

	"olympos.io/encoding/edn"
)

// The EDN encoder writes Go maps in random order; these methods write data maps with sorted
// keys so equal messages encode to equal bytes (golden files, caches, signatures).

func (h Headers) MarshalEDN() ([]byte, error) { return marshalEDNMap(h) }
func (a URIArgs) MarshalEDN() ([]byte, error) { return marshalEDNMap(a) }
func (s Stats) MarshalEDN() ([]byte, error)   { return marshalEDNMap(s) }
func (p Props) MarshalEDN() ([]byte, error)   { return marshalEDNMap(p) }

func marshalEDNMap[V any](m map[string]V) ([]byte, error) {
	if m == nil {
		return []byte("nil"), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(' ')
		}
		kb, err := edn.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := edn.Marshal(sortedEDN(m[k]))
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(' ')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// sortedEDN wraps nested generic maps (props hold JSON values) so they sort too.
func sortedEDN(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return Props(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = sortedEDN(e)
		}
		return out
	}
	return v
}
