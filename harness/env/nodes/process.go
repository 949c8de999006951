package nodes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ownerEnv is set in the environment of every process this backend starts,
// "<pid>:<session>", so a sweep finds the processes of a dead owner even
// outside a namespace (/proc/<pid>/environ).
const ownerEnv = "PIPECHAOS_NODES_OWNER"

// process is one child process (a broker, the registry, MinIO) that can be
// started again with the same command line after it was killed. Its
// output goes to one log file, appended across restarts.
type process struct {
	name  string
	argv  []string
	env   []string
	log   string
	owner string // ownerEnv value

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd exited
	starts int
}

// start runs the process unless it is running.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return nil
		}
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log of %s: %w", p.name, err)
	}
	p.starts++
	fmt.Fprintf(f, "=== pipechaos: start %d of %s at %s: %s\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano), strings.Join(p.argv, " "))
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(append(os.Environ(), p.env...), ownerEnv+"="+p.owner)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group (a terminal's ^C goes to the test binary, which
	// cleans up), and SIGKILL when the test binary dies: a kill -9 of the
	// owner takes its children with it; New's sweep removes the rest.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// running reports whether the process is up (possibly stopped by SIGSTOP).
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// pid is the process id, 0 if it is not running.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

// kill sends SIGKILL (after SIGCONT, so a paused process dies too) and
// waits for the process to be gone. Killing a process that is not running
// does nothing.
func (p *process) kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("kill %s (pid %d): still running 30s after SIGKILL", p.name, cmd.Process.Pid)
	}
}

// signal sends sig to a running process.
func (p *process) signal(sig syscall.Signal) error {
	pid := p.pid()
	if pid == 0 {
		return fmt.Errorf("%s is not running", p.name)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %v to %s (pid %d): %w", sig, p.name, pid, err)
	}
	return nil
}

// exited is closed when the current run ends (nil channel: never started).
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// tail is the last n lines of the process's log.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// withTail adds the last lines of p's log to err.
func (p *process) withTail(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w\n--- last lines of %s (%s):\n%s", err, p.name, p.log, p.tail(30))
}

// rssBytes is the resident set size of the running process, from
// /proc/<pid>/status.
func (p *process) rssBytes() (int64, error) {
	pid := p.pid()
	if pid == 0 {
		return 0, errors.New(p.name + " is not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("parse VmRSS of %s: %w", p.name, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for %s", p.name)
}
