package cli

import (
	"flag"
	"time"

	"github.com/cis490/cis490/internal/config"
)

// durationFlag is a duration flag read as the config reads durations: a
// number without a unit (--duration 5) is told what to write, as in a
// config file, where flag.Duration would only say "parse error"; and "30d"
// works on the command line as it does in the config.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) Set(s string) error {
	v, err := config.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = v.Duration()
	return nil
}

func (f durationFlag) String() string {
	if f.d == nil { // the zero value flag.PrintDefaults compares the default with
		return config.Duration(0).String()
	}
	return config.Duration(*f.d).String()
}

// durationVar defines a durationFlag, as fs.Duration defines a duration.
func durationVar(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	d := value
	fs.Var(durationFlag{&d}, name, usage)
	return &d
}
