package systemd

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// WatchdogInterval is the unit's WatchdogSec= from $WATCHDOG_USEC, or 0 when the watchdog is
// off or meant for another process ($WATCHDOG_PID). A service pings (Notify(Watchdog)) at half
// this interval, as sd_watchdog_enabled(3) advises.
func WatchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("parse WATCHDOG_PID %q: %w", pid, err)
		}
		if p != os.Getpid() {
			return 0, nil
		}
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse WATCHDOG_USEC %q: %w", usec, err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("parse WATCHDOG_USEC %q: not positive", usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}
