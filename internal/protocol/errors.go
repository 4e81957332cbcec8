package protocol

import "fmt"

// Code is a stable, machine-readable error class for messages that cannot be used.
type Code string

const (
	// CodeMalformed: the body is not a map in the declared codec, or a field has the wrong type.
	CodeMalformed Code = "E_MALFORMED"
	// CodeContentType: the content type is neither JSON nor EDN.
	CodeContentType Code = "E_CONTENT_TYPE"
	// CodeNoAction: the body decodes but has no `action`.
	CodeNoAction Code = "E_NO_ACTION"
	// CodeUnknownAction: the action is not in the catalogue (forward compatibility: log, drop).
	CodeUnknownAction Code = "E_UNKNOWN_ACTION"
	// CodeWrongAction: the body holds another action than the one the caller expects.
	CodeWrongAction Code = "E_WRONG_ACTION"
	// CodeMissingField: a field the receiver needs is absent.
	CodeMissingField Code = "E_MISSING_FIELD"
)

// Error is a message that cannot be used. Code is stable; Msg is for people; Err is the cause.
type Error struct {
	Code   Code
	Action string // the action, when it was readable
	From   string // the sender's inbox, when it was readable (for "log once per sender")
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(code Code, action string, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Action: action, Msg: fmt.Sprintf(format, args...), Err: cause}
}
