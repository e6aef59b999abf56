package cli

import (
	"time"
)

// parseWhen reads a --since or --until value the way `logs --since` always
// has: how long ago (2h, 30m; 0s is now) or an RFC 3339 time. A mistake is
// a usage error naming the flag and what to write instead.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, usagef("--%s %q is negative; give how long ago, like 2h (0s: from now)", flag, s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("--%s %q is neither a duration like 2h nor a time like 2026-11-27T08:00:00Z", flag, s)
	}
	return t, nil
}
