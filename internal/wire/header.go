package wire

// Headers every cis490 client sends, beside Authorization and User-Agent.
const (
	// HeaderCommit is the stamp: the full git commit of the running code.
	HeaderCommit = "X-Cis490-Code-Commit"
	// HeaderInstance is a stable id of the installation, so that two
	// machines cloned from one image are told apart.
	HeaderInstance = "X-Cis490-Instance"
)

// Headers of a stream: a PUT names the generation its bytes come from; HEAD
// and GET answer with where the stream stands, so a shipper that lost its
// state resumes exactly.
const (
	HeaderGeneration      = "X-Cis490-Generation"
	HeaderGenerationStart = "X-Cis490-Generation-Start" // logical offset where that generation begins
	HeaderLength          = "X-Cis490-Length"
	HeaderStart           = "X-Cis490-Start"  // the first byte retention kept
	HeaderOffset          = "X-Cis490-Offset" // GET: where the answer's bytes begin
)

// What a host's doctor learns from any answer to it: whether the version
// gate accepts its code, and which installations have spoken as it lately
// (a cloned image shows as two).
const (
	HeaderGate      = "X-Cis490-Gate"      // one of the Gate* verdicts
	HeaderAccepted  = "X-Cis490-Accepted"  // the accepted releases, "version commit" comma-separated
	HeaderInstances = "X-Cis490-Instances" // installations seen as this host in the last day
	// HeaderInstancesRecent are those seen in the last 15 minutes: two of
	// them at once is a clone, not a reinstall.
	HeaderInstancesRecent = "X-Cis490-Instances-Recent"
)

// The version gate's verdicts, as HeaderGate carries them.
const (
	GatePass      = "pass"
	GateStale     = "stale"
	GateUnstamped = "unstamped"
	GateUnknown   = "unknown-commit" // a commit the receiver does not know: a dev build
)

// Headers of every refusal, HEAD's included: a HEAD answer has no body, so
// the reason and the sentence of the JSON body travel here too, the
// sentence made one line of printable text a header can carry.
const (
	HeaderReason = "X-Cis490-Reason" // the body's "reason"
	HeaderError  = "X-Cis490-Error"  // the body's "error", one line
)

// MaxGeneration is the longest X-Cis490-Generation a receiver takes.
const MaxGeneration = 255

// ValidGeneration says whether id can be an X-Cis490-Generation: at most
// MaxGeneration bytes of printable ASCII without spaces.
func ValidGeneration(id string) bool {
	if len(id) > MaxGeneration {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
