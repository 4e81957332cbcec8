// What a kind needs to isolate a bundle's processes: the uid range they run under and the
// sink their output goes to (spec/bundles.md §4 "Isolation").

package kind

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// UIDRange is --bundle-uids: the uids a runner gives to bundle processes, one per started
// bundle instance, never the runner's and never two instances at once. The gid of a bundle
// is the same number as its uid. The zero value means no isolation: bundles run as the
// runner's user.
type UIDRange struct{ First, Last uint32 }

// ParseUIDRange reads "61000-61999" (or a single uid). "" is the zero range. Uid 0 and
// ranges of more than 1 000 000 uids are refused.
func ParseUIDRange(s string) (UIDRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return UIDRange{}, nil
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	first, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 32)
	last, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 32)
	switch {
	case err1 != nil || err2 != nil:
		return UIDRange{}, fmt.Errorf("bundle uids %q: want a range such as 61000-61999", s)
	case first == 0 || last < first:
		return UIDRange{}, fmt.Errorf("bundle uids %q: want first > 0 and first <= last", s)
	case last-first >= 1_000_000:
		return UIDRange{}, fmt.Errorf("bundle uids %q: at most 1000000 uids", s)
	}
	return UIDRange{First: uint32(first), Last: uint32(last)}, nil
}

// IsZero reports whether r is the zero range (no isolation).
func (r UIDRange) IsZero() bool { return r == UIDRange{} }

// Contains reports whether uid is in r.
func (r UIDRange) Contains(uid uint32) bool { return !r.IsZero() && r.First <= uid && uid <= r.Last }

func (r UIDRange) String() string {
	if r.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Set and the String above make a *UIDRange a flag.Value.
func (r *UIDRange) Set(s string) error {
	v, err := ParseUIDRange(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "bundle uids "))
	}
	*r = v
	return nil
}

// Output receives, one line at a time, what a bundle's processes write to stdout and
// stderr, already bounded by the kind (rate and line length). The runner's default logs
// each line; publishing them to funcatron.logging is another Output.
type Output interface {
	Line(l OutputLine)
}

// OutputLine is one line a bundle wrote.
type OutputLine struct {
	SHA, Queue string // the bundle and its route queue
	Stream     string // "stdout" or "stderr"
	Text       string // without the newline; "" when only Dropped is reported
	Truncated  bool   // Text is the start of a longer line
	Dropped    int    // lines dropped (over the rate) just before this one
}

// LogOutput is an Output that logs each line on log (which already names queue and sha);
// dropped, when not nil, is told how many lines were dropped (a metric).
func LogOutput(log *slog.Logger, dropped func(n int)) Output {
	return logOutput{log: log, dropped: dropped}
}

type logOutput struct {
	log     *slog.Logger
	dropped func(int)
}

func (o logOutput) Line(l OutputLine) {
	if l.Dropped > 0 {
		o.log.Warn("bundle output over its rate: lines dropped", "stream", l.Stream, "dropped", l.Dropped)
		if o.dropped != nil {
			o.dropped(l.Dropped)
		}
	}
	switch {
	case l.Truncated:
		o.log.Info(l.Text, "stream", l.Stream, "truncated", true)
	case l.Text != "" || l.Dropped == 0:
		o.log.Info(l.Text, "stream", l.Stream)
	}
}
