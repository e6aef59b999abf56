package transport

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
)

// machineIDPaths are where the machine id is looked for, in order.
func machineIDPaths() []string { return []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} }

// Instance derives X-Cis490-Instance from the machine id: stable for an
// installation, different on machines cloned from one image once their
// machine id is regenerated, and not the machine id itself (which is meant
// to stay private). Without a machine id it is "unknown".
func Instance(paths ...string) string {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		id := strings.TrimSpace(string(b))
		if id == "" || id == "uninitialized" {
			continue
		}
		sum := sha256.Sum256([]byte("cis490-instance:" + id))
		return hex.EncodeToString(sum[:16])
	}
	return "unknown"
}
