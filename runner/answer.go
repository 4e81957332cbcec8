// Answers the core writes itself: requests for no operation of the bundle.

package runner

import (
	"net/http"
	"strings"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
)

// notFound is the answer when no path of the bundle matches (spec/bundles.md §3).
func notFound(out *protocol.AnswerBody, method, path string) {
	kind.ErrorAnswer(out, http.StatusNotFound, "no operation for "+method+" "+path)
}

// methodNotAllowed is the answer when a path matches but not the method.
func methodNotAllowed(out *protocol.AnswerBody, method, path string, allow []string) {
	kind.ErrorAnswer(out, http.StatusMethodNotAllowed, "method "+method+" not allowed for "+path,
		[2]string{"Allow", strings.Join(allow, ", ")})
}
