// Package procstat measures where a machine's CPU and memory go during a
// run, from Linux's /proc: watched processes' CPU and resident memory, all
// PostgreSQL processes, the measuring process itself and the whole machine.
package procstat

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

const clockTicks = 100 // USER_HZ on Linux

// sample is what /proc says about one process at one instant.
type sample struct {
	rssKiB, hwmKiB int64
	cpuTicks       int64 // utime + stime
	ok             bool
}

func readProc(pid int) sample {
	var s sample
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			s.rssKiB = kib(v)
		} else if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			s.hwmKiB = kib(v)
		}
	}
	f.Close()
	s.cpuTicks = cpuTicks(fmt.Sprintf("/proc/%d/stat", pid))
	s.ok = true
	return s
}

func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n
}

// cpuTicks reads utime+stime from a /proc/<pid>/stat file.
func cpuTicks(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

// machineCPU reads the aggregate busy and total ticks of /proc/stat.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest time is already counted in user
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// postgresCPU sums the CPU ticks of every process named "postgres" (the
// server and all its backends: on a shared machine this includes others' work).
func postgresCPU() int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum int64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if processName(e.Name()) != "postgres" {
			continue
		}
		sum += cpuTicks("/proc/" + e.Name() + "/stat")
	}
	return sum
}

// processName is the command name of /proc/<pid>, "?" when it is gone.
func processName(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
