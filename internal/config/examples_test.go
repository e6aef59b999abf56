package config

import (
	"reflect"
	"testing"
)

// The example configs in deploy/ are what operators copy to /etc/cis490/;
// they must load and validate as they are.
func TestExamples(t *testing.T) {
	r, err := LoadReceiver("../../deploy/receiver.toml")
	if err != nil {
		t.Fatalf("deploy/receiver.toml: %v", err)
	}
	def := DefaultReceiver()
	def.Resolve("/etc/cis490")
	def.file = r.file
	if r.Listen != def.Listen || r.DataDir != def.DataDir || r.TLS != def.TLS || r.Limits != def.Limits ||
		r.Quota != def.Quota || r.Retention != def.Retention || r.Index != def.Index ||
		r.Gate.Accept != def.Gate.Accept || len(r.Gate.Releases) != 0 || r.Shutdown != def.Shutdown ||
		!reflect.DeepEqual(r.FleetHealth, def.FleetHealth) || r.Certs != def.Certs {
		t.Errorf("deploy/receiver.toml does not show the defaults:\ngot  %+v\nwant %+v", *r, def)
	}
	h, err := LoadLabHost("../../deploy/lab-host.toml")
	if err != nil {
		t.Fatalf("deploy/lab-host.toml: %v", err)
	}
	hd := DefaultLabHost()
	if h.StateDir != hd.StateDir || h.Batch != hd.Batch || h.Heartbeat != hd.Heartbeat {
		t.Errorf("deploy/lab-host.toml does not show the defaults:\ngot  %+v\nwant %+v", *h, hd)
	}
}
