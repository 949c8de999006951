package nodes_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/harness/env/nodes"
)

const childEnv = "PIPECHAOS_NODES_KILL_CHILD"

// TestKilledChild is the subprocess of TestKillLeavesNothing: it starts an
// environment, says so, and waits to be killed.
func TestKilledChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only as the subprocess of TestKillLeavesNothing")
	}
	e := newEnv(t)
	os.Stdout.WriteString("pipechaos-child-up " + e.(*nodes.Environment).Session() + "\n")
	time.Sleep(time.Hour)
}

// TestKillLeavesNothing kills (-9) a test binary whose environment is up:
// no cleanup runs in it. Its brokers die with it (parent-death signal);
// its namespaces, bridge and FORWARD rule stay until Sweep, which New
// runs first, removes them.
func TestKillLeavesNothing(t *testing.T) {
	nodes.RequireAvailable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestKilledChild$", "-test.v", "-test.count=1", "-test.timeout=20m")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	session := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "pipechaos-child-up "); ok {
			session = s
			break
		}
	}
	require.NotEmpty(t, session, "the child never started its environment")
	pid := cmd.Process.Pid
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	left := leftovers(t, pid, session)
	t.Logf("left by the killed child %d: %v", pid, left)
	removed, err := nodes.Sweep(false)
	require.NoError(t, err)
	t.Logf("swept: %v", removed)
	require.Empty(t, leftovers(t, pid, session), "sweep must remove what the killed process left")
}

// leftovers lists namespaces, links, rules and processes of owner pid.
func leftovers(t *testing.T, pid int, session string) []string {
	var left []string
	ns, _ := exec.Command("ip", "netns", "list").Output()
	links, _ := exec.Command("ip", "-o", "link").Output()
	rules, _ := exec.Command("iptables", "-S").Output()
	for _, src := range []string{string(ns), string(links), string(rules)} {
		for _, line := range strings.Split(src, "\n") {
			if strings.Contains(line, session) || strings.Contains(line, "pid="+strconv.Itoa(pid)+" ") {
				left = append(left, strings.TrimSpace(line))
			}
		}
	}
	procs, _ := exec.Command("pgrep", "-f", session).Output()
	for _, p := range strings.Fields(string(procs)) {
		left = append(left, "process "+p)
	}
	return left
}
