package sut

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the cgroup v1 memory controller is mounted. Each
// process gets a child cgroup pipechaos/<harness pid>-<n>-<name> with its
// memory.limit_in_bytes; the OOM killer's kills show in memory.oom_control.
var cgroupRoot = "/sys/fs/cgroup/memory"

type cgroup struct{ dir string }

var cgroupSeq atomic.Int64

// newCgroup makes the process's cgroup, nil when the controller is not
// there or not writable (then memory is capped with RLIMIT_AS and
// measured per process).
func newCgroup(name string, limit int64) *cgroup {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "memory.limit_in_bytes")); err != nil {
		return nil
	}
	dir := filepath.Join(cgroupRoot, "pipechaos", fmt.Sprintf("%d-%d-%s", os.Getpid(), cgroupSeq.Add(1), name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil
	}
	cg := &cgroup{dir: dir}
	if limit > 0 {
		if err := cg.write("memory.limit_in_bytes", strconv.FormatInt(limit, 10)); err != nil {
			cg.remove()
			return nil
		}
		// Without swap accounting a limit on memory alone lets the kernel
		// swap instead of kill; cap memory+swap too where it exists.
		_ = cg.write("memory.memsw.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	return cg
}

func (c *cgroup) write(file, v string) error {
	return os.WriteFile(filepath.Join(c.dir, file), []byte(v), 0o644)
}

// add moves pid into the cgroup. Its children are born in it.
func (c *cgroup) add(pid int) error { return c.write("cgroup.procs", strconv.Itoa(pid)) }

// pids lists the processes in the cgroup.
func (c *cgroup) pids() []int {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// oomKills is the oom_kill counter of memory.oom_control.
func (c *cgroup) oomKills() int64 {
	b, err := os.ReadFile(filepath.Join(c.dir, "memory.oom_control"))
	if err != nil {
		return 0
	}
	return fieldOf(b, "oom_kill")
}

// remove deletes the cgroup (it must hold no process).
func (c *cgroup) remove() {
	for _, pid := range c.pids() {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	_ = os.Remove(c.dir)
}

// fieldOf reads "name value" lines (memory.oom_control, memory.stat).
func fieldOf(b []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// vmHWM and vmRSS read the peak and current resident set of pid from
// /proc/<pid>/status, in bytes (0 when the process is gone).
func vmHWM(pid int) int64 { return statusKB(pid, "VmHWM:") }
func vmRSS(pid int) int64 { return statusKB(pid, "VmRSS:") }

func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line[len(field):])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// setAddressLimit caps pid's address space (prlimit RLIMIT_AS), the
// fallback without a cgroup: an allocation past it fails instead of an
// OOM kill, and the Go runtime dies of it.
func setAddressLimit(pid int, limit int64) error {
	lim := unix.Rlimit{Cur: uint64(limit), Max: uint64(limit)}
	if err := unix.Prlimit(pid, unix.RLIMIT_AS, &lim, nil); err != nil {
		return fmt.Errorf("prlimit RLIMIT_AS: %w", err)
	}
	return nil
}
