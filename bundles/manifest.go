// The bundle's manifest: finding it, parsing it, and pointing at its lines.

package bundles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ManifestNames are the names a manifest may have at the bundle root.
var ManifestNames = []string{"funcatron.yaml", "funcatron.yml", "funcatron.json"}

// manifest is the parsed manifest. doc is the whole document as generic
// values that encoding/json can encode (what the Tron reports as "swagger");
// node keeps positions so errors can name a line.
type manifest struct {
	file string
	doc  map[string]any
	node *yaml.Node // nil when positions are unknown
}

// findManifest returns the one manifest entry at the archive root.
func (a *archive) findManifest() (*entry, error) {
	var found []*entry
	for _, name := range ManifestNames {
		if e, ok := a.entries[name]; ok {
			found = append(found, e)
		}
	}
	switch {
	case len(found) == 0:
		return nil, invalidf("no manifest: the bundle root must hold one of %s", strings.Join(ManifestNames, ", "))
	case len(found) > 1:
		return nil, invalidf("more than one manifest: %s and %s", found[0].name, found[1].name)
	case found[0].kind != kindFile:
		return nil, invalidf("manifest %s is not a regular file", found[0].name)
	}
	return found[0], nil
}

// readManifest finds, reads and parses the manifest.
func (a *archive) readManifest() (*manifest, error) {
	e, err := a.findManifest()
	if err != nil {
		return nil, err
	}
	limit := a.lim.MaxManifestBytes
	tooBig := &InvalidError{File: e.name, Msg: fmt.Sprintf("larger than %d bytes (--max-manifest-bytes)", limit)}
	if e.file.UncompressedSize64 > uint64(limit) {
		return nil, tooBig
	}
	var buf bytes.Buffer
	budget := limit
	if err := a.copyEntry(&buf, e.file, &budget); err != nil {
		if errors.Is(err, errOverBudget) {
			return nil, tooBig
		}
		return nil, err
	}
	return parseManifest(e.name, buf.Bytes(), limit)
}

// parseManifest parses a manifest of at most limit bytes, decoded. YAML goes
// through yaml.v3. JSON goes through encoding/json: yaml.v3 refuses some valid
// JSON (escaped surrogate pairs such as "\ud83d\ude00", which Python's
// json.dumps writes for emoji); JSON has no aliases, so it decodes to no more
// than its size.
func parseManifest(file string, data []byte, limit int64) (m *manifest, err error) {
	defer func() {
		// A parser bug must not take the Tron down with an upload.
		if p := recover(); p != nil {
			m, err = nil, &InvalidError{File: file, Msg: fmt.Sprintf("does not parse (parser failed: %v)", p)}
		}
	}()
	var v any
	node := new(yaml.Node)
	if strings.HasSuffix(file, ".json") {
		err = decodeJSON(file, data, &v)
		if yaml.Unmarshal(data, node) != nil {
			node = nil // positions are a convenience; JSON yaml.v3 refuses has none
		}
	} else {
		err = decodeYAML(file, data, node, &v, limit)
	}
	if err != nil {
		return nil, err
	}
	doc, ok := normalize(v).(map[string]any)
	if !ok {
		return nil, &InvalidError{File: file, Line: 1, Msg: "the manifest is not a mapping (a Swagger or OpenAPI document)"}
	}
	if node != nil && len(node.Content) == 0 {
		node = nil
	}
	return &manifest{file: file, doc: doc, node: node}, nil
}

// decodeYAML parses YAML into node, checks what it expands to against limit
// before expanding it, then decodes node into v.
func decodeYAML(file string, data []byte, node *yaml.Node, v *any, limit int64) error {
	if err := yaml.Unmarshal(data, node); err != nil {
		return syntaxError(file, data, err)
	}
	if manifestSize(node, limit) > limit {
		return &InvalidError{File: file, Msg: fmt.Sprintf("decodes to more than %d bytes "+
			"(YAML aliases count as the bytes they expand to; --max-manifest-bytes)", limit)}
	}
	if err := node.Decode(v); err != nil {
		return yamlError(file, err)
	}
	return nil
}

// yamlError turns a yaml.v3 error into "line N: reason".
func yamlError(file string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	line, reason := splitLine(strings.TrimPrefix(msg, "yaml: "))
	return &InvalidError{File: file, Line: line, Msg: reason, Err: err}
}

// maxLineSearch bounds syntaxError's search: manifests are small, and past this many
// parses of growing prefixes yaml.v3's own line is given.
const (
	maxLineSearch      = 2000
	maxLineSearchBytes = 256 << 10
)

// syntaxError is yamlError for a YAML syntax error, with the line of the problem. yaml.v3
// names the start of the construct the parser was in (a block mapping's first key, a flow
// mapping's "{"), counted from 0 for parser errors: an unclosed "{" on line 6 came out as
// line 5, a mis-indented key on line 10 as the line its mapping began. The problem is on
// or after that line, at the first line where the document stops being a valid prefix:
// the shortest prefix of whole lines, from yaml.v3's line on, that fails to parse with the
// same reason is the one that ends on the problem line.
func syntaxError(file string, data []byte, err error) error {
	ie := yamlError(file, err).(*InvalidError)
	if len(data) > maxLineSearchBytes {
		return ie
	}
	lines := strings.SplitAfter(string(data), "\n")
	start := max(ie.Line, 1)
	for k := start; k <= len(lines) && k < start+maxLineSearch; k++ {
		var n yaml.Node
		perr := yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n)
		if perr == nil {
			continue
		}
		if _, reason := splitLine(strings.TrimPrefix(perr.Error(), "yaml: ")); reason == ie.Msg {
			ie.Line = k
			break
		}
	}
	return ie
}

// splitLine splits "line 4: reason" into 4 and "reason".
func splitLine(msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, reason, ok := strings.Cut(rest, ": ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg
	}
	return n, reason
}

// decodeJSON decodes JSON, giving the line of a syntax error.
func decodeJSON(file string, data []byte, v *any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	inv := &InvalidError{File: file, Msg: err.Error(), Err: err}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		inv.Line = 1 + bytes.Count(data[:min(se.Offset, int64(len(data)))], []byte("\n"))
	}
	return inv
}

// normalize turns decoded YAML into values encoding/json can encode: keys
// become strings (YAML allows `200:` as a key), timestamps and non-finite
// floats become the strings they were written as.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = normalize(x)
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[keyString(k)] = normalize(x)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = normalize(x)
		}
		return v
	case time.Time:
		if v.Equal(v.Truncate(24 * time.Hour)) {
			return v.Format(time.DateOnly)
		}
		return v.Format(time.RFC3339Nano)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	return v
}

// keyString writes a non-string YAML key the way it would be quoted.
func keyString(k any) string {
	if k == nil {
		return "null"
	}
	if s, ok := normalize(k).(string); ok {
		return s
	}
	return fmt.Sprint(k)
}

// line returns the line of the key at the end of keys (a path through
// nested mappings), or of the deepest key found, or 0.
func (m *manifest) line(keys ...string) int {
	if m.node == nil {
		return 0
	}
	n, line := m.node.Content[0], 0
	for _, k := range keys {
		key, val := lookup(n, k)
		if key == nil {
			break
		}
		n, line = val, key.Line
	}
	return line
}

// lookup finds key in the mapping n, following aliases; in a sequence, key is an index
// (so an error can point into a list).
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if i, err := strconv.Atoi(key); err == nil && n != nil && n.Kind == yaml.SequenceNode {
		if i < 0 || i >= len(n.Content) {
			return nil, nil
		}
		return n.Content[i], n.Content[i]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// errorf builds an InvalidError about the manifest at the key path keys.
func (m *manifest) errorf(keys []string, format string, args ...any) *InvalidError {
	return &InvalidError{File: m.file, Line: m.line(keys...), Msg: fmt.Sprintf(format, args...)}
}

// sortedKeys returns a map's keys in order, for deterministic walks.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
