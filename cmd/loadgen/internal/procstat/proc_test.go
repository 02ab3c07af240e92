package procstat

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCPUTicks_SumsUserAndSystemTimeAfterTheCommandName(t *testing.T) {
	tests := []struct {
		name, stat string
		want       int64
	}{
		{"plain name", "42 (projector) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 9 0", 175},
		{"name with spaces and parentheses", "42 (my (odd) proc) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 9 0", 10},
		{"truncated line", "42 (x) S 1 42", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stat")
			if err := os.WriteFile(path, []byte(tt.stat), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := cpuTicks(path); got != tt.want {
				t.Fatalf("cpuTicks = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestWatch_ReportsThisProcessByName(t *testing.T) {
	w := Start([]int{os.Getpid()})
	w.Sample()
	r := w.Finish()
	if len(r.Processes) != 1 {
		t.Fatalf("got %d processes, want 1", len(r.Processes))
	}
	p := r.Processes[0]
	if p.PID != os.Getpid() || p.Name == "?" || p.Name == "" {
		t.Fatalf("process %+v: want this process by its name", p)
	}
	if p.MaxRSSMiB <= 0 || p.LastRSSMiB <= 0 || w.RSS()[p.Name] <= 0 {
		t.Fatalf("process %+v, RSS %v: want a resident size", p, w.RSS())
	}
}
