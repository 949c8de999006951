package connect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MainClass is the distributed worker's entry point.
const MainClass = "org.apache.kafka.connect.cli.ConnectDistributed"

// Config configures a Worker. Zero values take the default in each field's
// comment.
type Config struct {
	// Bootstrap is the brokers' bootstrap list, host:port[,host:port...].
	// Required.
	Bootstrap string
	// Group is the worker group's group.id; its config, offset and status
	// topics are named <Group>-configs, -offsets, -status. Default
	// "connect". Workers of one group share connectors and rebalance tasks.
	Group string
	// ReplicationFactor of the config, offset and status topics: 1 on a
	// single broker, 3 on a three-broker cluster. Default -1: the brokers'
	// default.replication.factor (KIP-464).
	ReplicationFactor int
	// PluginPath lists the plugin.path directories (each holds one
	// directory, jar or uber-jar per plugin). Default: none (only what is on
	// the worker's classpath: Kafka's own converters and transforms).
	PluginPath []string
	// Heap is the JVM's maximum heap, as -Xmx takes it ("256m", "1g").
	// Default "256m", the heap kafka-run-class.sh gives.
	Heap string
	// OffsetFlushInterval is offset.flush.interval.ms: how often sink
	// tasks' offsets are committed. Default 500ms (Connect's is 60s).
	OffsetFlushInterval time.Duration
	// Root is the directory worker directories are made in. Default
	// $TMPDIR/pipechaos-connect. Sweep cleans it.
	Root string
	// Name names the worker's directory (Root/<Name>-<random>). Default
	// Group.
	Name string
	// Properties override or add worker properties (consumer.*,
	// producer.*, session.timeout.ms, ...), applied last.
	Properties map[string]string
	// PluginDiscovery is plugin.discovery: how the worker finds plugins.
	// Default "service_load": only plugins that declare themselves in
	// META-INF/services (Kafka's own, this repository's, most maintained
	// connectors) — no reflective scan of every jar, which on this machine
	// takes tens of seconds and most of a small heap. Use "hybrid_warn" for
	// a plugin without manifests.
	PluginDiscovery string
	// JVMOptions are added to the java command line before the main class,
	// after the defaults (-XX:TieredStopAtLevel=1 -XX:+UseSerialGC, for a
	// fast start), which they override: -XX:TieredStopAtLevel=4
	// -XX:+UseG1GC restores the JVM's own.
	JVMOptions []string
	// StartTimeout bounds a start or restart: until GET /health answers
	// 200. Default 3 minutes (a worker starts in 9-70 s on a loaded 2-core machine).
	StartTimeout time.Duration
	// Logf receives one line per lifecycle event. Default: discarded.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Group == "" {
		c.Group = "connect"
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.Heap == "" {
		c.Heap = "256m"
	}
	if c.OffsetFlushInterval == 0 {
		c.OffsetFlushInterval = 500 * time.Millisecond
	}
	if c.Root == "" {
		c.Root = filepath.Join(os.TempDir(), "pipechaos-connect")
	}
	if c.Name == "" {
		c.Name = c.Group
	}
	if c.PluginDiscovery == "" {
		c.PluginDiscovery = "service_load"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 3 * time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if strings.TrimSpace(c.Bootstrap) == "" {
		errs = append(errs, errors.New("connect: Bootstrap is empty: give the brokers' host:port list"))
	}
	if c.ReplicationFactor < -1 || c.ReplicationFactor > 32767 {
		errs = append(errs, fmt.Errorf("connect: ReplicationFactor %d: use 1 for a single broker, 3 for three, or -1 for the brokers' default", c.ReplicationFactor))
	}
	if !heapSize(c.Heap) {
		errs = append(errs, fmt.Errorf("connect: Heap %q is not a JVM size: use a number with k, m or g, like \"256m\"", c.Heap))
	}
	for _, p := range c.PluginPath {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("connect: plugin path %q is not a directory: each entry is a directory holding plugin jars or plugin directories", p))
		}
	}
	if strings.ContainsAny(c.Name, "/\\") {
		errs = append(errs, fmt.Errorf("connect: Name %q has a path separator", c.Name))
	}
	return errors.Join(errs...)
}

func heapSize(s string) bool {
	if len(s) < 2 {
		return false
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	return err == nil && n > 0 && strings.ContainsRune("kKmMgG", rune(s[len(s)-1]))
}

// Exit is how a worker process ended.
type Exit struct {
	// Code is the exit status, -1 when a signal ended it.
	Code int
	// Signal is the signal that ended it (SIGKILL for Kill), 0 if none.
	Signal syscall.Signal
	// OOM: the JVM ended on an OutOfMemoryError. It is read from outside:
	// exit status 3 (-XX:+ExitOnOutOfMemoryError) and the JVM's own
	// "Terminating due to java.lang.OutOfMemoryError" line on its stdout.
	OOM bool
	// Reason is the JVM's OOM line when OOM.
	Reason string
	// At is when the harness saw it end.
	At time.Time
}

func (e Exit) String() string {
	switch {
	case e.OOM:
		return fmt.Sprintf("exit status %d: %s", e.Code, e.Reason)
	case e.Signal != 0:
		return fmt.Sprintf("ended by signal %d (%s)", int(e.Signal), e.Signal)
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// Worker is one Kafka Connect worker process. Its methods are safe for
// concurrent use.
type Worker struct {
	cfg    Config
	dist   Dist
	dir    string
	port   int
	url    string
	client *http.Client

	mu      sync.Mutex
	proc    *process // the current process, nil before the first start
	starts  int
	closed  bool
	peakRSS atomic.Int64 // over every process of this worker, bytes
}

// process is one run of the JVM.
type process struct {
	cmd       *exec.Cmd
	out       *os.File
	outOffset int64 // where this run's output starts in jvm.out
	started   time.Time
	done      chan struct{}
	exit      Exit
	stopRSS   chan struct{}
	rssDone   chan struct{}
}

// Start resolves the worker (ResolveDist), sweeps what dead harnesses left
// under cfg.Root, and starts a worker, returning once its REST API is
// healthy. Close it.
func Start(ctx context.Context, cfg Config) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d, err := ResolveDist(ctx)
	if err != nil {
		return nil, err
	}
	if removed, err := Sweep(cfg.Root); err != nil {
		cfg.Logf("connect: sweep of %s: %v", cfg.Root, err)
	} else if len(removed) > 0 {
		cfg.Logf("connect: swept %d worker directories a dead harness left: %v", len(removed), removed)
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, fmt.Errorf("connect: make root: %w", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	dir := filepath.Join(cfg.Root, cfg.Name+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("connect: make worker directory: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	w := &Worker{cfg: cfg, dist: d, dir: dir, port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		client: &http.Client{Timeout: 10 * time.Second}}
	if err := writeOwner(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := w.writeProperties(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := w.launch(ctx); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// URL is the worker's REST API, http://127.0.0.1:<port>; it stays the same
// across restarts.
func (w *Worker) URL() string { return w.url }

// Dir is the worker's directory: worker.properties, worker.log (log4j2),
// jvm.out (the JVM's stdout and stderr), owner.
func (w *Worker) Dir() string { return w.dir }

// Group is the worker group's group.id.
func (w *Worker) Group() string { return w.cfg.Group }

// PID is the current process's pid (0 before the first start).
func (w *Worker) PID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.proc == nil {
		return 0
	}
	return w.proc.cmd.Process.Pid
}

// Starts is how many times the JVM was started.
func (w *Worker) Starts() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.starts
}

func (w *Worker) properties() map[string]string {
	c := w.cfg
	rf := strconv.Itoa(c.ReplicationFactor)
	p := map[string]string{
		"bootstrap.servers":                       c.Bootstrap,
		"group.id":                                c.Group,
		"config.storage.topic":                    c.Group + "-configs",
		"offset.storage.topic":                    c.Group + "-offsets",
		"status.storage.topic":                    c.Group + "-status",
		"config.storage.replication.factor":       rf,
		"offset.storage.replication.factor":       rf,
		"status.storage.replication.factor":       rf,
		"offset.storage.partitions":               "5",
		"status.storage.partitions":               "1",
		"key.converter":                           "org.apache.kafka.connect.converters.ByteArrayConverter",
		"value.converter":                         "org.apache.kafka.connect.converters.ByteArrayConverter",
		"listeners":                               w.url,
		"rest.advertised.host.name":               "127.0.0.1",
		"rest.advertised.port":                    strconv.Itoa(w.port),
		"offset.flush.interval.ms":                strconv.FormatInt(c.OffsetFlushInterval.Milliseconds(), 10),
		"connector.client.config.override.policy": "All",
		// A worker that died hands its tasks over after this delay
		// (incremental cooperative rebalancing; Connect's default is 5
		// minutes, which no test waits for).
		"scheduled.rebalance.max.delay.ms":  "3000",
		"task.shutdown.graceful.timeout.ms": "2000",
		"plugin.discovery":                  c.PluginDiscovery,
	}
	if len(c.PluginPath) > 0 {
		p["plugin.path"] = strings.Join(c.PluginPath, ",")
	}
	maps.Copy(p, c.Properties)
	return p
}

func (w *Worker) writeProperties() error {
	p := w.properties()
	var b strings.Builder
	b.WriteString("# Kafka Connect worker written by pipechaos (harness/connect)\n")
	for _, k := range slices.Sorted(maps.Keys(p)) {
		fmt.Fprintf(&b, "%s=%s\n", k, p[k])
	}
	if err := os.WriteFile(filepath.Join(w.dir, "worker.properties"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("connect: write worker.properties: %w", err)
	}
	return nil
}

// launch starts the JVM and waits until the REST API is healthy.
func (w *Worker) launch(ctx context.Context) error {
	out, err := os.OpenFile(filepath.Join(w.dir, "jvm.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("connect: open jvm.out: %w", err)
	}
	off, _ := out.Seek(0, io.SeekEnd)
	args := []string{
		"-Xmx" + w.cfg.Heap,
		"-XX:+ExitOnOutOfMemoryError",
		// Start fast on a small shared machine: the client compiler only
		// and the serial collector (no GC threads to compete for 2 cores).
		// JVMOptions come later on the command line and win.
		"-XX:TieredStopAtLevel=1",
		"-XX:+UseSerialGC",
		"-Djava.awt.headless=true",
		"-D" + dirProperty + "=" + w.dir,
		"-Dlog4j2.configurationFile=" + w.dist.Log4j(),
		"-Dpipechaos.log=" + filepath.Join(w.dir, "worker.log"),
	}
	args = append(args, w.cfg.JVMOptions...)
	args = append(args, "-cp", w.dist.Classpath(), MainClass, filepath.Join(w.dir, "worker.properties"))
	cmd := exec.Command("java", args...)
	cmd.Dir = w.dir
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so Kill reaches every thread and child; and
	// killed with the harness's thread if the harness dies first (the sweep
	// is the second net).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		out.Close()
		return errors.New("connect: worker is closed")
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		w.mu.Unlock()
		out.Close()
		return fmt.Errorf("connect: start java: %w", err)
	}
	p := &process{cmd: cmd, out: out, outOffset: off, started: start, done: make(chan struct{}),
		stopRSS: make(chan struct{}), rssDone: make(chan struct{})}
	w.proc = p
	w.starts++
	n := w.starts
	w.mu.Unlock()
	if err := appendOwner(w.dir, cmd.Process.Pid); err != nil {
		w.cfg.Logf("connect: %v", err)
	}
	go w.sampleRSS(p)
	go w.wait(p)

	if err := w.waitHealthy(ctx, p); err != nil {
		return err
	}
	w.cfg.Logf("connect: worker %s (pid %d, start %d) healthy at %s after %s, heap -Xmx%s, group %s",
		filepath.Base(w.dir), cmd.Process.Pid, n, w.url, time.Since(start).Round(time.Millisecond), w.cfg.Heap, w.cfg.Group)
	return nil
}

func (w *Worker) wait(p *process) {
	err := p.cmd.Wait()
	close(p.stopRSS)
	<-p.rssDone
	e := Exit{Code: p.cmd.ProcessState.ExitCode(), At: time.Now()}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal()
	}
	if e.Code == 3 {
		if line := oomLine(filepath.Join(w.dir, "jvm.out"), p.outOffset); line != "" {
			e.OOM, e.Reason = true, line
		}
	}
	_ = err
	p.out.Close()
	p.exit = e
	close(p.done)
	w.cfg.Logf("connect: worker %s (pid %d) ended: %s", filepath.Base(w.dir), p.cmd.Process.Pid, e)
}

// oomLine finds the JVM's OutOfMemoryError line in path after offset.
func oomLine(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 64<<20))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Terminating due to java.lang.OutOfMemoryError") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func (w *Worker) waitHealthy(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.url+"/health", nil)
		if resp, err := w.client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("connect: the worker ended before it was healthy (%s); its log:\n%s", p.exit, w.LogTail(30))
		case <-ctx.Done():
			return fmt.Errorf("connect: the worker was not healthy at %s/health within %s; its log:\n%s", w.url, w.cfg.StartTimeout, w.LogTail(30))
		case <-tick.C:
		}
	}
}

// LogTail is the last n lines of the worker's log4j2 log and of the JVM's
// output, for people reading a failure (never for a verdict).
func (w *Worker) LogTail(n int) string {
	var b strings.Builder
	for _, f := range []string{"worker.log", "jvm.out"} {
		data, err := os.ReadFile(filepath.Join(w.dir, f))
		if err != nil || len(data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, tail(string(data), n))
	}
	return b.String()
}

func (w *Worker) current() *process {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.proc
}

// Done is closed when the current process ends.
func (w *Worker) Done() <-chan struct{} {
	p := w.current()
	if p == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// Exited reports how the current process ended, and false while it runs.
func (w *Worker) Exited() (Exit, bool) {
	p := w.current()
	if p == nil {
		return Exit{}, false
	}
	select {
	case <-p.done:
		return p.exit, true
	default:
		return Exit{}, false
	}
}

// Wait waits for the current process to end (an OOM, a crash) or ctx.
func (w *Worker) Wait(ctx context.Context) (Exit, error) {
	p := w.current()
	if p == nil {
		return Exit{}, errors.New("connect: worker never started")
	}
	select {
	case <-p.done:
		return p.exit, nil
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
}

// signal sends sig to the current process's group.
func (w *Worker) signal(sig syscall.Signal) error {
	p := w.current()
	if p == nil {
		return errors.New("connect: worker never started")
	}
	select {
	case <-p.done:
		return fmt.Errorf("connect: worker already ended (%s)", p.exit)
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("connect: %s to worker: %w", sig, err)
	}
	return nil
}

// Kill sends SIGKILL to the worker's process group (no shutdown, no offset
// commit, no leaving the group) and waits until it is gone.
func (w *Worker) Kill() error {
	p := w.current()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT) // a paused worker dies too
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("connect: kill worker: %w", err)
	}
	<-p.done
	return nil
}

// Pause freezes the worker (SIGSTOP to its group): its connections stay
// open, its heartbeats stop, its group evicts it after session.timeout.ms.
func (w *Worker) Pause() error { return w.signal(syscall.SIGSTOP) }

// Resume thaws a paused worker (SIGCONT).
func (w *Worker) Resume() error { return w.signal(syscall.SIGCONT) }

// Restart kills the running process, if any, and starts the worker again
// with the same directory, REST port and group: it rejoins and resumes
// from the connectors' configs and committed offsets in Kafka.
func (w *Worker) Restart(ctx context.Context) error {
	if err := w.Kill(); err != nil {
		return err
	}
	return w.launch(ctx)
}

// PeakRSS is the highest resident set size seen over every process of this
// worker (the kernel's VmHWM, sampled every 100ms while it runs), in bytes.
func (w *Worker) PeakRSS() int64 { return w.peakRSS.Load() }

// RSS is the current process's resident set size in bytes (0 when it is
// not running).
func (w *Worker) RSS() int64 {
	p := w.current()
	if p == nil {
		return 0
	}
	rss, _, _ := readRSS(p.cmd.Process.Pid)
	return rss
}

func (w *Worker) sampleRSS(p *process) {
	defer close(p.rssDone)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if _, hwm, err := readRSS(p.cmd.Process.Pid); err == nil {
			for {
				cur := w.peakRSS.Load()
				if hwm <= cur || w.peakRSS.CompareAndSwap(cur, hwm) {
					break
				}
			}
		}
		select {
		case <-p.stopRSS:
			return
		case <-t.C:
		}
	}
}

// Close kills the worker, waits for it and removes its directory.
// Idempotent.
func (w *Worker) Close() error {
	if w == nil {
		return nil // a Start that failed cleaned up after itself
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	err := w.Kill()
	w.client.CloseIdleConnections()
	if rerr := os.RemoveAll(w.dir); rerr != nil && err == nil {
		err = fmt.Errorf("connect: remove %s: %w", w.dir, rerr)
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("connect: pick a REST port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
