package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: fixed at 100 by
// the Linux ABI on every architecture Go supports.
const userHZ = 100

// ProcStat is one reading of a process from /proc.
type ProcStat struct {
	// CPU is user plus system time since the process started.
	CPU time.Duration
	// RSS is the resident set now, PeakRSS its high-water mark, in bytes.
	RSS, PeakRSS uint64
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status (pid 0: this process).
func ReadProc(pid int) (ProcStat, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcStat{}, err
	}
	// The command name (field 2) may contain spaces: fields count from the
	// last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("bench: unreadable %s/stat", dir)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("bench: short %s/stat", dir)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return ProcStat{}, fmt.Errorf("bench: bad cpu times in %s/stat", dir)
	}
	ps := ProcStat{CPU: time.Duration(utime+stime) * time.Second / userHZ}

	status, err := os.Open(dir + "/status")
	if err != nil {
		return ProcStat{}, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			ps.RSS = kb << 10
		case "VmHWM":
			ps.PeakRSS = kb << 10
		}
	}
	return ps, sc.Err()
}
