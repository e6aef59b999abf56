package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cis490/cis490/internal/human"
)

// checkAutoupdate reports autoupdate's last outcome: a rolled-back or
// refused update is news for the fleet's maintainer.
func checkAutoupdate(_ context.Context, e *env) Check {
	root := e.opt.UpdateRoot
	if root == "" {
		root = "/var/lib/cis490/bin"
	}
	if e.cfg != nil && e.cfg.ReleaseKey == "" {
		return skip("autoupdate is off: no release_key in " + e.opt.Config)
	}
	b, err := os.ReadFile(filepath.Join(root, "last-update.json"))
	if err != nil {
		return skip("autoupdate has not run here")
	}
	var out struct {
		At      time.Time `json:"at"`
		From    string    `json:"from"`
		To      string    `json:"to"`
		Result  string    `json:"result"`
		Detail  string    `json:"detail"`
		Failing []string  `json:"new_failures"`
	}
	if json.Unmarshal(b, &out) != nil {
		return Check{Status: Warn, Finding: "autoupdate's last outcome is unreadable"}
	}
	f := fmt.Sprintf("last run %s ago: %s", human.Duration(max(0, e.now.Sub(out.At))), out.Result)
	if out.Detail != "" {
		f += " (" + out.Detail + ")"
	}
	switch out.Result {
	case "rolled-back":
		return Check{Status: Warn, Finding: f + fmt.Sprintf("; %s failed %s here", out.To, strings.Join(out.Failing, ", ")),
			Fix: "the release breaks this host: look at its failing checks before rolling it out further"}
	case "refused":
		return Check{Status: Warn, Finding: f, Fix: "check release_key in lab-host.toml against the key the release was signed with"}
	}
	return Check{Finding: f}
}

// unitState is what systemd says of a unit.
type unitState struct{ load, active, file string }

func (u unitState) String() string {
	switch {
	case u.load == "not-found":
		return "not installed"
	case u.file != "" && u.file != "enabled" && u.file != "static":
		return u.active + ", " + u.file
	}
	return u.active
}

func checkUnits(ctx context.Context, e *env) Check {
	dir := e.opt.SystemdDir
	if dir == "" {
		dir = "/run/systemd/system"
	}
	if _, err := os.Stat(dir); err != nil {
		return skip("systemd is not running here")
	}
	ctl := e.opt.Systemctl
	if ctl == nil {
		ctl = func(ctx context.Context, args ...string) (string, error) {
			out, err := exec.CommandContext(ctx, "systemctl", args...).Output()
			return strings.TrimSpace(string(out)), err
		}
	}
	var bad, warn, missing []string
	for _, u := range hostUnits() {
		out, err := ctl(ctx, "show", "--property=LoadState,ActiveState,UnitFileState", u)
		if err != nil && out == "" {
			return Check{Status: Warn, Finding: "systemctl show failed: " + oneLine(err)}
		}
		var st unitState
		for _, line := range strings.Split(out, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch k {
			case "LoadState":
				st.load = v
			case "ActiveState":
				st.active = v
			case "UnitFileState":
				st.file = v
			}
		}
		switch {
		case st.load == "not-found":
			missing = append(missing, u)
		case strings.HasSuffix(u, ".service"):
			// A shipper restarting (activating) is alive; inactive or
			// failed is not.
			if st.active != "active" && st.active != "activating" && st.active != "reloading" {
				bad = append(bad, u+" "+st.String())
			} else if st.file != "enabled" {
				warn = append(warn, u+" not enabled (it will not start at boot)")
			}
		case st.active != "active" || st.file != "enabled":
			warn = append(warn, u+" "+st.String())
		}
	}
	f := strings.Join(append(append(bad, warn...), notInstalled(missing)...), "; ")
	switch {
	case len(bad) > 0:
		return Check{Status: Fail, Finding: f, Fix: "systemctl enable --now cis490-shipper, and journalctl -u cis490-shipper for why it stopped"}
	case len(warn) > 0:
		return Check{Status: Warn, Finding: f, Fix: "systemctl enable --now the units named"}
	case len(missing) > 0:
		return Check{Status: Warn, Finding: f, Fix: "install the units from deploy/systemd (this release's lab host units)"}
	}
	return Check{Finding: fmt.Sprintf("%s active and enabled", strings.Join(hostUnits(), ", "))}
}

func notInstalled(units []string) []string {
	if len(units) == 0 {
		return nil
	}
	return []string{strings.Join(units, ", ") + " not installed"}
}
