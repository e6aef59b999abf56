package receiver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cis490/cis490/internal/wire"
)

// TestErrorHeaders: every refusal, HEAD's included, carries its reason and
// sentence in headers, the sentence as one line a header can hold.
func TestErrorHeaders(t *testing.T) {
	e := &apiError{status: http.StatusUnauthorized, reason: wire.ReasonBadToken,
		msg: "the token is not known —\r\nInjected: yes\x00 " + strings.Repeat("x", 2*maxHeaderLine)}
	for _, head := range []bool{true, false} {
		w := httptest.NewRecorder()
		errorResponse(e).write(w, head)
		if got := w.Header().Get(wire.HeaderReason); got != wire.ReasonBadToken {
			t.Errorf("head=%v: %s = %q", head, wire.HeaderReason, got)
		}
		got := w.Header().Get(wire.HeaderError)
		if !strings.HasPrefix(got, "the token is not known — Injected: yes x") || len(got) > maxHeaderLine {
			t.Errorf("head=%v: %s = %q (%d bytes); want one clean line of at most %d", head, wire.HeaderError, got[:min(len(got), 60)], len(got), maxHeaderLine)
		}
		if head && w.Body.Len() != 0 {
			t.Errorf("HEAD answered a body")
		}
	}
}
