// This file is the error type of the Tron's operations: a message for a person and the HTTP
// status the admin API answers with.

package tron

import (
	"fmt"
	"net/http"
)

// apiError is an operation's failure as the admin API reports it: {"error": Msg} with Status.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
}

func newAPIError(status int, format string, args ...any) *apiError {
	return &apiError{Status: status, Msg: fmt.Sprintf(format, args...)}
}
