package connect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirProperty is the JVM system property naming a worker's directory: it
// tells the sweep that a pid still belongs to that worker (pids are reused).
const dirProperty = "pipechaos.connect.dir"

// The owner file of a worker directory: "harness <pid> <start>" (the
// harness process and its start time in clock ticks since boot, from
// /proc/<pid>/stat), then one "worker <pid>" line per JVM started.
const ownerFile = "owner"

func writeOwner(dir string) error {
	pid := os.Getpid()
	start, err := procStart(pid)
	if err != nil {
		return fmt.Errorf("connect: read own start time: %w", err)
	}
	line := fmt.Sprintf("harness %d %s\n", pid, start)
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(line), 0o644); err != nil {
		return fmt.Errorf("connect: write owner file: %w", err)
	}
	return nil
}

func appendOwner(dir string, worker int) error {
	f, err := os.OpenFile(filepath.Join(dir, ownerFile), os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("connect: owner file: %w", err)
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "worker %d\n", worker)
	return err
}

// procStart is field 22 of /proc/<pid>/stat: the process's start time.
func procStart(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return "", fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f[19], nil // field 22 counted from 1, less pid and comm
}

// Sweep kills the workers and removes the directories under root whose
// harness process is gone (it was killed, or panicked past its cleanup):
// a worker pid is killed (its whole process group) only if its command
// line still names the directory. It returns the directories removed.
func Sweep(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("connect: sweep: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being created, or not ours
		}
		harnessAlive := false
		var workers []int
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "harness":
				pid, _ := strconv.Atoi(f[1])
				if start, err := procStart(pid); err == nil && start == f[2] {
					harnessAlive = true
				}
			case len(f) == 2 && f[0] == "worker":
				if pid, err := strconv.Atoi(f[1]); err == nil {
					workers = append(workers, pid)
				}
			}
		}
		if harnessAlive {
			continue
		}
		for _, pid := range workers {
			if ownsDir(pid, dir) {
				_ = syscall.Kill(-pid, syscall.SIGCONT)
				if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					errs = append(errs, fmt.Errorf("connect: sweep: kill worker %d of %s: %w", pid, dir, err))
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("connect: sweep: %w", err))
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// ownsDir reports whether pid is a live JVM started for dir.
func ownsDir(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	want := "-D" + dirProperty + "=" + dir
	for _, arg := range strings.Split(string(b), "\x00") {
		if arg == want {
			return true
		}
	}
	return false
}
