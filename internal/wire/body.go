package wire

import "time"

// Error is the body of every refusal. Its fields are in the order the
// receiver has always written them (alphabetical), so answers stay byte
// for byte what they were.
type Error struct {
	Accepted []Release `json:"accepted,omitempty"` // 426: the releases the receiver accepts
	Error    string    `json:"error"`              // one sentence, for people
	Length   *int64    `json:"length,omitempty"`   // 409: the stream's length to resync to
	Reason   string    `json:"reason,omitempty"`   // for programs; "" from an older receiver
}

// Release names an accepted release in a 426 answer.
type Release struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Rolling: still rolling out, so accepted whatever its age.
	Rolling bool `json:"rolling,omitempty"`
}

// Appended answers a PUT /v1/logs (201, or 200 for a retry): the stream's
// length, durable.
type Appended struct {
	Length int64 `json:"length"`
}

// Heartbeat states.
const (
	StateUp       = "up"
	StateShutdown = "shutdown"
	StateSleep    = "sleep"
)

// ValidState reports whether s is a heartbeat state the receiver takes.
func ValidState(s string) bool {
	switch s {
	case StateUp, StateShutdown, StateSleep:
		return true
	}
	return false
}

// Heartbeat is the body of PUT /v1/heartbeat/{host}, and its answer. An
// empty body, or an empty state, is "up".
type Heartbeat struct {
	State string `json:"state"`
}

// StreamInfo is one stream in GET /v1/logs/{host}.
type StreamInfo struct {
	Stream   string `json:"stream"`
	Start    int64  `json:"start"`
	Length   int64  `json:"length"`
	Gen      string `json:"generation,omitempty"`
	GenStart int64  `json:"generation_start"`
}

// Streams answers GET /v1/logs/{host}.
type Streams struct {
	Host    string       `json:"host"`
	Streams []StreamInfo `json:"streams"`
}

// EnrollRequest is the body of POST /v1/enroll (the join token is the
// bearer).
type EnrollRequest struct {
	Host string `json:"host"`
	CSR  string `json:"csr"` // PEM
}

// Enrolled is what an enrolled host gets.
type Enrolled struct {
	Host     string    `json:"host"`
	Cert     string    `json:"cert"` // PEM
	CA       string    `json:"ca"`   // PEM
	Token    string    `json:"token"`
	NotAfter time.Time `json:"not_after"`
	// ReleaseKey is the public key releases are signed with ("" when the
	// receiver has none configured).
	ReleaseKey string `json:"release_key,omitempty"`
}

// RenewRequest is the body of POST /v1/certs/renew.
type RenewRequest struct {
	CSR string `json:"csr"` // PEM, over a new key
}

// Renewed is a renewed certificate, the answer to POST /v1/certs/renew.
type Renewed struct {
	Host     string    `json:"host"`
	Cert     string    `json:"cert"` // PEM
	CA       string    `json:"ca"`   // PEM
	NotAfter time.Time `json:"not_after"`
}
