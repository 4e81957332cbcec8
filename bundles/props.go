// ${props.NAME} placeholders in x-funcatron, filled at enable time.

package bundles

import (
	"fmt"
	"strings"
)

// placeholder opens a placeholder; the name runs to the next "}".
const placeholder = "${props."

// Props fill placeholders in the string values of the bundle kind's section
// of x-funcatron (x-funcatron.exec for kind exec; never in keys, never
// elsewhere):
//   - A value that is exactly one placeholder takes the prop's value with its
//     JSON type: twins: ${props.twins} becomes a mapping if the prop is one.
//   - A placeholder inside a longer string is replaced by the prop printed
//     as text (redis://${props.host}:6379); the prop must then be a string,
//     number, boolean or null (which prints as nothing).
//   - A prop that is not given is an error naming it. A NAME is any text
//     without "}" and is looked up as is (no nesting). There is no escape:
//     a literal "${props." cannot be written.
//   - Prop values are inserted as they are, not searched for placeholders.

// hasPlaceholder reports whether v holds a placeholder anywhere.
func hasPlaceholder(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, placeholder)
	case map[string]any:
		for _, x := range v {
			if hasPlaceholder(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasPlaceholder(x) {
				return true
			}
		}
	}
	return false
}

// substituter fills placeholders from props.
type substituter struct {
	m     *manifest
	props map[string]any
}

// value returns a copy of v with its placeholders filled. keys is where v
// is in the manifest, for errors.
func (s *substituter) value(v any, keys []string) (any, error) {
	switch v := v.(type) {
	case string:
		return s.str(v, keys)
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range sortedKeys(v) { // sorted: the same error every time
			var err error
			if out[k], err = s.value(v[k], append(keys[:len(keys):len(keys)], k)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			var err error
			if out[i], err = s.value(x, keys); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// str fills the placeholders of one string.
func (s *substituter) str(v string, keys []string) (any, error) {
	if !strings.Contains(v, placeholder) {
		return v, nil
	}
	if strings.HasPrefix(v, placeholder) && strings.IndexByte(v, '}') == len(v)-1 {
		return s.prop(v[len(placeholder):len(v)-1], keys)
	}
	var b strings.Builder
	for {
		i := strings.Index(v, placeholder)
		if i < 0 {
			return b.String() + v, nil
		}
		end := strings.IndexByte(v[i:], '}')
		if end < 0 {
			return nil, s.errorf(keys, "unterminated placeholder in %q", v)
		}
		p, err := s.prop(v[i+len(placeholder):i+end], keys)
		if err != nil {
			return nil, err
		}
		text, ok := scalarString(p)
		if !ok && p != nil {
			return nil, s.errorf(keys, "prop %q is a %s; only a string, number or boolean can be part of a longer string",
				v[i+len(placeholder):i+end], typeName(p))
		}
		b.WriteString(v[:i])
		b.WriteString(text)
		v = v[i+end+1:]
	}
}

// prop looks a prop up by name.
func (s *substituter) prop(name string, keys []string) (any, error) {
	if name == "" {
		return nil, s.errorf(keys, "empty prop name in ${props.}")
	}
	p, ok := s.props[name]
	if !ok {
		return nil, s.errorf(keys, "missing prop %q", name)
	}
	return p, nil
}

// errorf builds the error for a placeholder at keys.
func (s *substituter) errorf(keys []string, format string, args ...any) *InvalidError {
	return s.m.errorf(keys, "%s: %s", strings.Join(keys, "."), fmt.Sprintf(format, args...))
}

// typeName names a JSON value's type for messages.
func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "mapping"
	case []any:
		return "list"
	}
	return fmt.Sprintf("%T", v)
}
