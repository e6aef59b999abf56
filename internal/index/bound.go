package index

import (
	"net/http"

	"github.com/cis490/cis490/internal/human"
)

// Every field of a line is bounded before it is written, whatever a caller
// (or a client, through the receiver) put in it: a line costs at most a few
// KiB of disk, twice (day file and journal), even for a request with a
// 60 KB method.
var fieldMax = struct{ name, short, token, remote, pattern int }{
	name:   253, // host names, admin names
	short:  64,  // endpoint, reason, state, gate, commit, cert_expires, quota
	token:  128, // stream, instance
	remote: 128,
	// pattern: a search's, as long as the receiver takes one.
	pattern: 1024,
}

// methods are the HTTP methods recorded as they are; any other is OTHER.
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
	http.MethodOptions: true, http.MethodTrace: true,
}

// MethodOther stands for a method outside the standard ones.
const MethodOther = "OTHER"

// bound clips l's fields to their bounds.
func (l *Line) bound() {
	if !methods[l.Method] && l.Method != "" {
		l.Method = MethodOther
	}
	for _, f := range []struct {
		s   *string
		max int
	}{
		{&l.Host, fieldMax.name}, {&l.CertHost, fieldMax.name}, {&l.Admin, fieldMax.name},
		{&l.Endpoint, fieldMax.short}, {&l.Reason, fieldMax.short}, {&l.State, fieldMax.short},
		{&l.Gate, fieldMax.short}, {&l.Commit, fieldMax.short}, {&l.CertExpires, fieldMax.short},
		{&l.Quota, fieldMax.short},
		{&l.LostCause, fieldMax.short},
		{&l.Stream, fieldMax.token}, {&l.Instance, fieldMax.token}, {&l.Remote, fieldMax.remote},
		{&l.Pattern, fieldMax.pattern}, {&l.SearchMode, fieldMax.short}, {&l.Window, fieldMax.token},
	} {
		*f.s = human.Clip(*f.s, f.max)
	}
}
