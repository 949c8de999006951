package nodes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Sweep removes what environments of dead owners left behind (a test binary
// killed with kill -9 runs no cleanup): processes carrying ownerEnv,
// network namespaces named pcn-<pid>-…, bridges whose alias names the
// owner, and FORWARD rules whose comment does. With all, live owners'
// leftovers go too. It returns what it removed. New runs it first.
func Sweep(all bool) ([]string, error) {
	dead := func(pid int) bool { return all || ownerDead(pid) }
	var removed []string
	var errs []error

	// Processes first, so nothing holds a namespace or a port.
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			v, ok := strings.CutPrefix(kv, ownerEnv+"=")
			if !ok {
				continue
			}
			owner, _, _ := strings.Cut(v, ":")
			opid, err := strconv.Atoi(owner)
			if err != nil || !dead(opid) {
				break
			}
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			if pid == os.Getpid() {
				break
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				removed = append(removed, fmt.Sprintf("process %d (owner %d)", pid, opid))
			}
			break
		}
	}

	if out, err := output("ip", "netns", "list"); err == nil {
		nsRE := regexp.MustCompile(`^` + namePrefix + `-(\d+)-`)
		for _, line := range strings.Split(out, "\n") {
			name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			m := nsRE.FindStringSubmatch(name)
			if m == nil {
				continue
			}
			if pid, _ := strconv.Atoi(m[1]); !dead(pid) {
				continue
			}
			if err := deleteNetns(name); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "netns "+name)
		}
	}

	ownerRE := regexp.MustCompile(ruleTag + ` pid=(\d+) session=([0-9a-f]+)`)
	if out, err := output("ip", "-o", "link", "show", "type", "bridge"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || !strings.HasPrefix(f[1], namePrefix) {
				continue
			}
			m := ownerRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if pid, _ := strconv.Atoi(m[1]); !dead(pid) {
				continue
			}
			name := strings.TrimSuffix(f[1], ":")
			if err := run("ip", "link", "del", name); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "bridge "+name)
		}
	}

	if out, err := output("iptables", "-w", "-S", "FORWARD"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			m := ownerRE.FindStringSubmatch(line)
			if m == nil || !strings.HasPrefix(line, "-A ") {
				continue
			}
			if pid, _ := strconv.Atoi(m[1]); !dead(pid) {
				continue
			}
			args, err := splitRule(strings.TrimPrefix(line, "-A "))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := run(append([]string{"iptables", "-w", "-D"}, args...)...); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "iptables rule "+line)
		}
	}
	return removed, errors.Join(errs...)
}

// splitRule splits an iptables -S line into arguments, honouring the
// double quotes around comments.
func splitRule(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	quoted, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, have = !quoted, true
		case r == ' ' && !quoted:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unbalanced quotes in iptables rule %q", s)
	}
	if have {
		args = append(args, cur.String())
	}
	return args, nil
}

// ownerDead reports whether no process pid exists.
func ownerDead(pid int) bool {
	if pid <= 0 {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err != nil && !errors.Is(err, syscall.EPERM)
}
