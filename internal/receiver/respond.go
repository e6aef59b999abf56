package receiver

import (
	"encoding/json"
	"github.com/cis490/cis490/internal/store"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cis490/cis490/internal/wire"
)

// apiError is a refusal: a status, a short reason code for the index and one
// sentence for the client.
type apiError struct {
	status     int
	reason     string
	msg        string
	length     *int64            // 409: the stream's length, in the body
	accepted   []wire.Release    // 426: the releases accepted, in the body
	retryAfter int               // seconds, 0 for none
	close      bool              // the connection is not kept (its body was cut)
	quota      *store.QuotaError // 429 for a quota, 503 for a limit: its numbers go in the index line
}

func (e *apiError) Error() string { return e.msg }

func notFound() *apiError {
	return &apiError{status: http.StatusNotFound, reason: wire.ReasonNotFound, msg: "no such endpoint; see the API reference in the README"}
}

func badName(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, reason: wire.ReasonBadName, msg: msg}
}

// response is what a handler answers; the server writes it only after the
// request's index line is durable.
type response struct {
	status  int
	body    any // JSON-encoded unless raw or file is set
	raw     []byte
	file    io.ReadCloser // streamed, then closed: a release binary is not read into memory
	size    int64         // of file
	ctype   string
	headers map[string]string
	// streamed: the status and headers were written, and the start of
	// the body (a search's hits); raw is the rest.
	streamed bool
}

func errorResponse(e *apiError) *response {
	// The reason is the index's: for programs, the sentence is for people.
	body := wire.Error{Error: e.msg, Reason: e.reason, Length: e.length, Accepted: e.accepted}
	r := &response{status: e.status, body: body, headers: map[string]string{}}
	// Also in headers, for an answer without a body (HEAD) and a client
	// that reads no JSON: a shipper asking HEAD with a revoked token must
	// still learn why.
	if e.reason != "" {
		r.headers[wire.HeaderReason] = headerLine(e.reason)
	}
	if e.msg != "" {
		r.headers[wire.HeaderError] = headerLine(e.msg)
	}
	if e.retryAfter > 0 {
		r.headers["Retry-After"] = strconv.Itoa(e.retryAfter)
	}
	if e.close {
		r.headers["Connection"] = "close"
	}
	return r
}

// maxHeaderLine bounds a sentence carried in a header: proxies refuse
// large headers, and a sentence is one line, not a report.
const maxHeaderLine = 1024

// headerLine makes s one line a header can carry: control characters
// (newlines above all: they would end the header) and invalid UTF-8 become
// spaces, runs of spaces one, and it is cut at maxHeaderLine bytes on a
// character boundary. Printable UTF-8 stays: header values may hold such
// bytes, and Go's client and curl hand them back as written.
func headerLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = b.Len() > 0
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if b.Len()+n > maxHeaderLine {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func jsonResponse(status int, body any) *response { return &response{status: status, body: body} }

func (r *response) write(w http.ResponseWriter, head bool) {
	if r.streamed {
		w.Write(r.raw)
		return
	}
	h := w.Header()
	for k, v := range r.headers {
		h.Set(k, v)
	}
	h.Set("Cache-Control", "no-store")
	if r.file != nil {
		defer r.file.Close()
		h.Set("Content-Type", r.ctype)
		h.Set("Content-Length", strconv.FormatInt(r.size, 10))
		w.WriteHeader(r.status)
		if !head {
			io.Copy(w, r.file) // a client gone half-way is its own retry
		}
		return
	}
	var b []byte
	if r.raw != nil {
		b = r.raw
		if r.ctype != "" {
			h.Set("Content-Type", r.ctype)
		}
	} else if r.body != nil {
		b, _ = json.Marshal(r.body)
		b = append(b, '\n')
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(r.status)
	if !head {
		w.Write(b)
	}
}
