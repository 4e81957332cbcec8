// Reading typed settings out of generic manifest and props values.

package bundles

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// scalarString renders a string, number or boolean as a string. Numbers
// print without exponent or trailing zeros (6379, not 6379.0).
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// toInt reads a whole number: an integer, an integral float (what JSON
// props decode to) or a decimal string.
func toInt(v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case int64:
		return int(v), v == int64(int(v))
	case uint64:
		return int(v), v <= math.MaxInt
	case float64:
		return int(v), v == math.Trunc(v) && math.Abs(v) < 1<<53
	case json.Number, string:
		s, _ := scalarString(v)
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil
	}
	return 0, false
}

// toDuration reads a duration: a Go duration string ("30s", "1m30s") or a
// number of seconds (10, 0.5), as the gilmour section writes timeouts.
func toDuration(v any) (time.Duration, bool) {
	if s, ok := v.(string); ok {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		return d, err == nil
	}
	s, ok := scalarString(v)
	if _, isBool := v.(bool); !ok || isBool {
		return 0, false
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(secs) || math.Abs(secs) > math.MaxInt64/float64(time.Second) {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// toStrings reads a list of scalars, or one string as a list of one.
func toStrings(v any) ([]string, bool) {
	if s, ok := v.(string); ok {
		return []string{s}, true
	}
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(list))
	for i, x := range list {
		if out[i], ok = scalarString(x); !ok {
			return nil, false
		}
	}
	return out, true
}
