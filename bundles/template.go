// Path templates of the manifest's paths, such as /greet/{name}.

package bundles

import (
	"fmt"
	"strings"
)

// segment is one "/"-separated element of a path template: a literal, or a
// parameter with an optional literal prefix and suffix ("{name}",
// "{id}.json", "v{n}").
type segment struct {
	param                bool
	lit                  string // the literal, when !param
	prefix, suffix, name string // when param
}

// parseTemplate splits a path template into segments. A trailing slash is
// dropped ("/a/" is "/a"), "/" has no segments. A parameter never matches an
// empty segment; a segment holds at most one parameter, since "{a}-{b}" has
// no single reading.
func parseTemplate(p string) ([]segment, error) {
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "/" {
		return nil, nil
	}
	var segs []segment
	names := map[string]bool{}
	for _, part := range strings.Split(p[1:], "/") {
		s, err := parseSegment(part)
		if err != nil {
			return nil, err
		}
		if s.param {
			if names[s.name] {
				return nil, fmt.Errorf("parameter {%s} appears twice", s.name)
			}
			names[s.name] = true
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// parseSegment parses one segment of a template.
func parseSegment(part string) (segment, error) {
	open, close := strings.IndexByte(part, '{'), strings.IndexByte(part, '}')
	switch {
	case part == "":
		return segment{}, fmt.Errorf("has an empty segment (//)")
	case open < 0 && close < 0:
		return segment{lit: part}, nil
	case open < 0 || close < open || strings.Count(part, "{") != 1 || strings.Count(part, "}") != 1:
		return segment{}, fmt.Errorf("segment %q must hold exactly one {name}", part)
	case close == open+1:
		return segment{}, fmt.Errorf("segment %q has an empty parameter name", part)
	}
	return segment{param: true, prefix: part[:open], suffix: part[close+1:], name: part[open+1 : close]}, nil
}
