// The error type for bundles that break the Func Bundle rules.

package bundles

import "fmt"

// InvalidError reports a bundle that breaks a rule of the Func Bundle format
// (spec/bundles.md §2). Its text names the problem and holds no internals (no
// local paths), so the Tron can answer an upload with 400 and Error() as the
// message, and a runner can put it in the error of an enable ack.
type InvalidError struct {
	// File is the manifest the problem is in (e.g. "funcatron.yaml"), or ""
	// when the problem is the archive itself.
	File string
	// Line is the 1-based line in File, or 0 when unknown.
	Line int
	// Msg says what is wrong, e.g. `basePath "hello" does not start with /`.
	Msg string
	// Err is the cause, if any; its text is already part of Msg.
	Err error
}

// Error formats the problem as "file: line N: msg", leaving out what is unknown.
func (e *InvalidError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s: line %d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return e.File + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *InvalidError) Unwrap() error { return e.Err }

// invalidf builds an InvalidError about the archive as a whole.
func invalidf(format string, args ...any) *InvalidError {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}
