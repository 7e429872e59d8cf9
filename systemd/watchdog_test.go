package systemd

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestWatchdogInterval(t *testing.T) {
	self, other := strconv.Itoa(os.Getpid()), strconv.Itoa(os.Getpid()+1)
	tests := []struct {
		name, usec, pid string
		want            time.Duration
		wantErr         bool
	}{
		{name: "off"},
		{name: "on", usec: "30000000", want: 30 * time.Second},
		{name: "for this process", usec: "1000000", pid: self, want: time.Second},
		{name: "for another process", usec: "1000000", pid: other},
		{name: "bad usec", usec: "30s", wantErr: true},
		{name: "zero", usec: "0", wantErr: true},
		{name: "bad pid", usec: "1000000", pid: "main", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			got, err := WatchdogInterval()
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("WatchdogInterval() = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
