package sut

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec is one system-under-test process: what to run, with which
// environment, and the memory it may use.
type Spec struct {
	// Name identifies the process in logs, cgroups and the narrative
	// ("sink-a"). Required; letters, digits, '-', '_' and '.'.
	Name string
	// Path and Args are the command. Path is looked up in $PATH when it
	// has no slash. Required.
	Path string
	Args []string
	// Env is added to the harness's own environment (KEY=VALUE).
	Env []string
	// Dir is the working directory. Default: the harness's.
	Dir string
	// MemoryLimit caps the process's memory in bytes (cgroup v1 memory
	// controller, the whole process tree; RLIMIT_AS of the process where
	// no cgroup can be made). 0: no cap, memory is still measured.
	MemoryLimit int64
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// Default 10s.
	StopTimeout time.Duration
}

func (s Spec) validate() error {
	var errs []error
	if s.Name == "" || strings.ContainsAny(s.Name, "/ \t\n") {
		errs = append(errs, fmt.Errorf("process name %q: give a name without slashes or spaces (e.g. \"sink-a\")", s.Name))
	}
	if s.Path == "" {
		errs = append(errs, errors.New("no command: set Path to the program to run"))
	}
	if s.MemoryLimit < 0 {
		errs = append(errs, fmt.Errorf("memory limit cannot be negative (got %d): 0 means no cap", s.MemoryLimit))
	}
	return errors.Join(errs...)
}

// Exit is how one instance of a process ended.
type Exit struct {
	// Code is the exit status, -1 when a signal ended it.
	Code int `json:"code"`
	// Signal is the signal that ended it ("killed", "terminated"), if any.
	Signal string `json:"signal,omitempty"`
	// OOMKilled is true when the memory cap's OOM killer ended it
	// (observed in the cgroup's oom_kill counter).
	OOMKilled bool `json:"oom_killed,omitempty"`
	// ByHarness is true when the harness sent the ending signal (Kill,
	// Stop, Restart), as opposed to a crash of its own.
	ByHarness bool `json:"by_harness,omitempty"`
	// PeakRSS is the instance's peak resident set, bytes: the largest
	// /proc/<pid>/status VmHWM sampled (summed over its cgroup).
	PeakRSS int64 `json:"peak_rss"`
	// Ran is how long the instance ran.
	Ran time.Duration `json:"ran_ns"`
	// Err is set when the process could not be waited for.
	Err error `json:"-"`
}

func (e Exit) String() string {
	var b strings.Builder
	switch {
	case e.OOMKilled:
		b.WriteString("OOM-killed by its memory cap")
	case e.Signal != "":
		b.WriteString("ended by signal " + e.Signal)
	default:
		fmt.Fprintf(&b, "exited with status %d", e.Code)
	}
	if e.ByHarness {
		b.WriteString(" (sent by the harness)")
	}
	fmt.Fprintf(&b, " after %s, peak RSS %.1f MiB", e.Ran.Round(time.Millisecond), float64(e.PeakRSS)/(1<<20))
	return b.String()
}

// Process is a system under test running as a child process of the
// harness: it can be killed (SIGKILL), paused (SIGSTOP) and resumed
// (SIGCONT), stopped (SIGTERM, then SIGKILL), and restarted with the same
// spec; its memory is capped and measured from outside; its stdout and
// stderr go to a log file. Every signal goes to the process group, so a
// command run through a shell is signalled with its children.
//
// A Process is safe for concurrent use.
type Process struct {
	spec Spec
	log  *os.File
	cg   *cgroup // nil when no cgroup could be made

	mu        sync.Mutex
	cmd       *exec.Cmd
	started   time.Time
	done      chan struct{} // closed when the current instance exited
	exits     []Exit
	byHarness bool // the current instance's end was asked for
	paused    bool
	instances int
	hwm       int64 // the current instance's sampled high-water mark
	closed    bool
	oomBase   int64
}

// Start starts the process. ctx bounds only the start, not the process's
// life: end it with Stop or Kill, or Close (which every path must reach;
// see StartT for tests).
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	if spec.StopTimeout == 0 {
		spec.StopTimeout = 10 * time.Second
	}
	sweepOnce()
	dir, err := runDir()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	log, err := os.CreateTemp(dir, spec.Name+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("start %s: log file: %w", spec.Name, err)
	}
	p := &Process{spec: spec, log: log}
	p.cg = newCgroup(spec.Name, spec.MemoryLimit)
	if err := p.startInstance(ctx); err != nil {
		p.release()
		return nil, err
	}
	track(p)
	return p, nil
}

// Name is the spec's name.
func (p *Process) Name() string { return p.spec.Name }

// LogPath is the file holding the process's stdout and stderr, every
// instance appended.
func (p *Process) LogPath() string { return p.log.Name() }

// PID is the current instance's process ID (0 if none is running).
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil || p.isDone() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Instances is how many instances have been started (1 + restarts).
func (p *Process) Instances() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.instances
}

// Running reports whether the current instance has not exited (a paused
// one is running).
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !p.isDone()
}

// Done is closed when the current instance exits.
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Exits lists how every instance that ended so far ended, in order.
func (p *Process) Exits() []Exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Exit(nil), p.exits...)
}

// Wait waits until the current instance exits, or ctx ends.
func (p *Process) Wait(ctx context.Context) (Exit, error) {
	done := p.Done()
	select {
	case <-done:
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exits[len(p.exits)-1], nil
}

func (p *Process) isDone() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *Process) startInstance(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start %s: %w", p.spec.Name, err)
	}
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Dir = p.spec.Dir
	cmd.Env = append(append(os.Environ(), ownerEnv+"="+owner()), p.spec.Env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("start %s: the process was closed", p.spec.Name)
	}
	p.instances++
	fmt.Fprintf(p.log, "--- pipechaos: %s instance %d starts at %s: %s %s\n", p.spec.Name, p.instances,
		time.Now().UTC().Format(time.RFC3339Nano), p.spec.Path, strings.Join(p.spec.Args, " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.spec.Name, err)
	}
	if p.cg != nil {
		if err := p.cg.add(cmd.Process.Pid); err != nil {
			fmt.Fprintf(p.log, "--- pipechaos: cgroup: %v; memory is measured per process only\n", err)
		}
		p.oomBase = p.cg.oomKills()
	} else if p.spec.MemoryLimit > 0 {
		if err := setAddressLimit(cmd.Process.Pid, p.spec.MemoryLimit); err != nil {
			fmt.Fprintf(p.log, "--- pipechaos: no memory cap: %v\n", err)
		}
	}
	p.cmd, p.started, p.done, p.byHarness, p.paused, p.hwm = cmd, time.Now(), make(chan struct{}), false, false, 0
	go p.watch(cmd, p.done)
	return nil
}

// watch samples the instance's memory until it exits, then records how it
// ended.
func (p *Process) watch(cmd *exec.Cmd, done chan struct{}) {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var werr error
loop:
	for {
		select {
		case werr = <-exited:
			break loop
		case <-tick.C:
			p.sample(cmd.Process.Pid)
		}
	}
	ex := Exit{Code: -1}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		ex.Err = werr
	}
	if st := cmd.ProcessState; st != nil {
		ex.Code = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			ex.Signal = ws.Signal().String()
		}
		// Not wait4's ru_maxrss: a child started by vfork+exec inherits
		// its parent's high-water mark there (the kernel records the
		// parent's mm at exec), so a sink forked by a 500 MiB test binary
		// would report 500 MiB. VmHWM belongs to the child's own mm.
	}
	p.mu.Lock()
	ex.PeakRSS = max(ex.PeakRSS, p.hwm)
	ex.ByHarness = p.byHarness
	ex.Ran = time.Since(p.started)
	if p.cg != nil && p.cg.oomKills() > p.oomBase {
		ex.OOMKilled = true
	}
	p.exits = append(p.exits, ex)
	p.mu.Unlock()
	fmt.Fprintf(p.log, "--- pipechaos: %s instance %d %s\n", p.spec.Name, len(p.exits), ex)
	close(done)
}

// sample reads the high-water mark of the instance (every process of its
// cgroup, or the process alone).
func (p *Process) sample(pid int) {
	pids := []int{pid}
	if p.cg != nil {
		if ps := p.cg.pids(); len(ps) > 0 {
			pids = ps
		}
	}
	var sum int64
	for _, q := range pids {
		sum += vmHWM(q)
	}
	p.mu.Lock()
	p.hwm = max(p.hwm, sum)
	p.mu.Unlock()
}

// PeakRSS is the largest peak resident set of any instance so far, the
// running one included (bytes, measured from outside).
func (p *Process) PeakRSS() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	peak := p.hwm
	for _, e := range p.exits {
		peak = max(peak, e.PeakRSS)
	}
	return peak
}

// RSS is the current instance's resident set now (bytes; 0 if not
// running), summed over its cgroup (a command run through a shell counts
// with its children).
func (p *Process) RSS() int64 {
	pid := p.PID()
	if pid == 0 {
		return 0
	}
	pids := []int{pid}
	if p.cg != nil {
		if ps := p.cg.pids(); len(ps) > 0 {
			pids = ps
		}
	}
	var sum int64
	for _, q := range pids {
		sum += vmRSS(q)
	}
	return sum
}

// OOMKills counts the instances the memory cap's OOM killer ended.
func (p *Process) OOMKills() int {
	n := 0
	for _, e := range p.Exits() {
		if e.OOMKilled {
			n++
		}
	}
	return n
}

// signal sends sig to the current instance's process group. asked marks
// the instance's end as the harness's doing.
func (p *Process) signal(sig syscall.Signal, asked bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.isDone() {
		return fmt.Errorf("%s: %w", p.spec.Name, ErrNotRunning)
	}
	if asked {
		p.byHarness = true
	}
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s to %s (pid %d): %w", sig, p.spec.Name, pid, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	case syscall.SIGKILL, syscall.SIGTERM:
		if p.paused { // a stopped process only dies of SIGKILL; let SIGTERM in
			_ = syscall.Kill(-pid, syscall.SIGCONT)
			p.paused = false
		}
	}
	return nil
}

// ErrNotRunning is returned by the signals when no instance is running.
var ErrNotRunning = errors.New("process is not running")

// Kill ends the current instance with SIGKILL (kill -9): no last flush, no
// commit, no goodbye; it waits until it is gone.
func (p *Process) Kill() error {
	if err := p.signal(syscall.SIGKILL, true); err != nil {
		return err
	}
	<-p.Done()
	return nil
}

// Pause freezes the current instance (SIGSTOP): its sockets stay open,
// nothing answers, its group session times out.
func (p *Process) Pause() error { return p.signal(syscall.SIGSTOP, false) }

// Resume lets a paused instance go on (SIGCONT).
func (p *Process) Resume() error { return p.signal(syscall.SIGCONT, false) }

// Paused reports whether the current instance is paused.
func (p *Process) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && !p.isDone()
}

// Stop asks the current instance to end (SIGTERM) and kills it (SIGKILL)
// if it has not after the spec's StopTimeout or when ctx ends. It returns
// how it ended; stopping a process that already exited returns its exit.
func (p *Process) Stop(ctx context.Context) (Exit, error) {
	if err := p.signal(syscall.SIGTERM, true); err != nil && !errors.Is(err, ErrNotRunning) {
		return Exit{}, err
	}
	t := time.NewTimer(p.spec.StopTimeout)
	defer t.Stop()
	select {
	case <-p.Done():
	case <-t.C:
		_ = p.signal(syscall.SIGKILL, true)
	case <-ctx.Done():
		_ = p.signal(syscall.SIGKILL, true)
	}
	return p.Wait(context.WithoutCancel(ctx))
}

// Restart starts a new instance with the same spec (same name, log file,
// cgroup and memory cap), killing the current one first if it runs.
func (p *Process) Restart(ctx context.Context) error {
	if p.Running() {
		if err := p.Kill(); err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
	}
	return p.startInstance(ctx)
}

// Close kills the running instance, if any, and releases the cgroup. The
// log file stays (see LogPath) until the run directory is swept. Close is
// idempotent.
func (p *Process) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	if p.Running() {
		_ = p.Kill()
	}
	untrack(p)
	p.release()
	return nil
}

func (p *Process) release() {
	if p.cg != nil {
		p.cg.remove()
	}
	p.log.Close()
}

// Tail is the last n lines of the process's log (for a failure message).
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return fmt.Sprintf("(log %s unreadable: %v)", p.log.Name(), err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CopyLog writes the whole log to w.
func (p *Process) CopyLog(w io.Writer) error {
	f, err := os.Open(p.log.Name())
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// runDir is this harness process's directory for logs, under
// $TMPDIR/pipechaos-sut/<pid>; the sweep removes those of dead harnesses.
func runDir() (string, error) {
	dir := filepath.Join(os.TempDir(), "pipechaos-sut", fmt.Sprint(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("log directory: %w", err)
	}
	return dir, nil
}
