package connect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Dist is a resolved Kafka Connect worker: Dir/libs/*.jar is the
// classpath, Dir/log4j2.properties the logging configuration.
type Dist struct{ Dir string }

// Classpath is the worker's classpath.
func (d Dist) Classpath() string { return filepath.Join(d.Dir, "libs", "*") }

// Log4j is the worker's log4j2 configuration file.
func (d Dist) Log4j() string { return filepath.Join(d.Dir, "log4j2.properties") }

var (
	distOnce, pluginsOnce sync.Once
	dist                  Dist
	plugins               string
	distErr, pluginsErr   error
)

// ResolveDist resolves the worker pinned in java/connect-dist/pom.xml with
// scripts/connect-dist.sh (Maven, cached under PIPECHAOS_CACHE) once per
// process and returns it. PIPECHAOS_CONNECT_DIST, if set, names an already
// resolved directory instead.
func ResolveDist(ctx context.Context) (Dist, error) {
	distOnce.Do(func() {
		dir := os.Getenv("PIPECHAOS_CONNECT_DIST")
		if dir == "" {
			dir, distErr = runScript(ctx, "connect-dist.sh")
		}
		if distErr == nil {
			if _, err := os.Stat(filepath.Join(dir, "libs", "connect-runtime-4.4.0.jar")); err != nil {
				distErr = fmt.Errorf("connect dist %s has no libs/connect-runtime-4.4.0.jar: run scripts/connect-dist.sh (or unset PIPECHAOS_CONNECT_DIST)", dir)
			}
		}
		dist = Dist{Dir: dir}
	})
	return dist, distErr
}

// Plugins builds this repository's own Connect plugins (java/smt) with
// scripts/connect-plugins.sh once per process and returns a directory for
// plugin.path. Its plugins: io.pipechaos.connect.HeaderRouter,
// io.pipechaos.connect.BuggyHeaderRouter (transforms) and
// io.pipechaos.connect.LineSink (a sink connector).
func Plugins(ctx context.Context) (string, error) {
	pluginsOnce.Do(func() { plugins, pluginsErr = runScript(ctx, "connect-plugins.sh") })
	return plugins, pluginsErr
}

// Available reports why workers cannot run here ("" when they can): the
// JVM and Maven must be on PATH.
func Available() string {
	for _, bin := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Sprintf("%s is not on PATH: a Kafka Connect worker needs a JDK 17+ and Maven (apt-get install openjdk-17-jdk-headless maven)", bin)
		}
	}
	return ""
}

// runScript runs scripts/<name> of this repository and returns the last
// line it printed (the directory).
func runScript(ctx context.Context, name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", name))
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", name, err, tail(stderr.String(), 20))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1], nil
}

// RepoRoot finds the pipechaos repository: PIPECHAOS_ROOT, else the first
// parent of the working directory holding scripts/connect-dist.sh, else
// the directory this source file was compiled from.
func RepoRoot() (string, error) {
	has := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "scripts", "connect-dist.sh"))
		return err == nil
	}
	if r := os.Getenv("PIPECHAOS_ROOT"); r != "" {
		if !has(r) {
			return "", fmt.Errorf("PIPECHAOS_ROOT=%s has no scripts/connect-dist.sh: point it at a pipechaos checkout", r)
		}
		return r, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if has(d) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		if d := filepath.Dir(filepath.Dir(filepath.Dir(file))); has(d) {
			return d, nil
		}
	}
	return "", errors.New("cannot find the pipechaos repository (scripts/connect-dist.sh): run from inside it or set PIPECHAOS_ROOT")
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
