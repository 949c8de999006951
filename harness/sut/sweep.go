package sut

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ownerEnv marks every process the harness starts with its owner: the
// harness's pid and start time ("1234:98765"). A later harness kills the
// processes whose owner is gone (a test binary killed with -9 cannot clean
// up after itself; Pdeathsig covers most of it, the sweep the rest).
const ownerEnv = "PIPECHAOS_SUT_OWNER"

var (
	ownerOnce sync.Once
	ownerID   string
)

func owner() string {
	ownerOnce.Do(func() { ownerID = fmt.Sprintf("%d:%d", os.Getpid(), startTime(os.Getpid())) })
	return ownerID
}

// startTime is field 22 of /proc/<pid>/stat (clock ticks since boot): a pid
// and its start time name one process, even after pid reuse.
func startTime(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return -1
	}
	n, _ := strconv.ParseInt(f[19], 10, 64)
	return n
}

func alive(o string) bool {
	pid, st, ok := strings.Cut(o, ":")
	if !ok {
		return false
	}
	p, err := strconv.Atoi(pid)
	if err != nil {
		return false
	}
	return strconv.FormatInt(startTime(p), 10) == st
}

var sweepDone sync.Once

func sweepOnce() { sweepDone.Do(func() { Sweep() }) }

// Sweep kills every process a harness that is gone started, and removes
// its cgroups and log directories. Start runs it once per harness process;
// it returns how many processes it killed.
func Sweep() int {
	killed := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			o, ok := strings.CutPrefix(kv, ownerEnv+"=")
			if !ok || alive(o) {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			if pid != os.Getpid() && unix.Kill(pid, unix.SIGKILL) == nil {
				killed++
			}
		}
	}
	// cgroups and log directories are named after the harness's pid.
	gone := func(name string) bool {
		pid, _, _ := strings.Cut(name, "-")
		n, err := strconv.Atoi(pid)
		return err == nil && n != os.Getpid() && unix.Kill(n, 0) != nil
	}
	if ents, err := os.ReadDir(filepath.Join(cgroupRoot, "pipechaos")); err == nil {
		for _, e := range ents {
			if e.IsDir() && gone(e.Name()) {
				cg := &cgroup{dir: filepath.Join(cgroupRoot, "pipechaos", e.Name())}
				cg.remove()
			}
		}
	}
	base := filepath.Join(os.TempDir(), "pipechaos-sut")
	if ents, err := os.ReadDir(base); err == nil {
		for _, e := range ents {
			if gone(e.Name()) {
				_ = os.RemoveAll(filepath.Join(base, e.Name()))
			}
		}
	}
	return killed
}

// live holds every process not yet closed, for CloseAll.
var (
	liveMu sync.Mutex
	live   = map[*Process]bool{}
)

func track(p *Process)   { liveMu.Lock(); live[p] = true; liveMu.Unlock() }
func untrack(p *Process) { liveMu.Lock(); delete(live, p); liveMu.Unlock() }

// CloseAll closes every process this harness started and has not closed:
// for a main's exit path (tests use StartT, which closes at cleanup).
func CloseAll() {
	liveMu.Lock()
	ps := make([]*Process, 0, len(live))
	for p := range live {
		ps = append(ps, p)
	}
	liveMu.Unlock()
	for _, p := range ps {
		_ = p.Close()
	}
}
