package nodes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// The address plan. Namespaced brokers live in subnetPrefix.0/24, which
// this backend uses for nothing else: environment slot s (0..15) owns the
// /28 starting at 16*s, the bridge takes its first address and the
// brokers the next ones. Without namespaces, slot s's brokers listen on
// 127.213.s.(2+i) (all of 127/8 is local on Linux).
const (
	subnetPrefix = "10.213.7"
	slots        = 16
	maxNodes     = 13 // a /28 holds 14 hosts, one is the bridge

	clientPort     = 9092 // the protocol proxy (Region.front) in front of it, for clients
	controllerPort = 9093 // KRaft controllers
	replPort       = 9094 // inter-broker replication

	namePrefix = "pcn"             // bridge pcn<slot>, veths pcn<slot>v<i>, namespaces pcn-<pid>-<session>-<node>
	ruleTag    = "pipechaos-nodes" // iptables comments and the bridge's alias
)

// lockDir holds one lock file per slot; a slot is taken while its file is
// flock'ed, and the kernel releases the lock when the owner dies.
var lockDir = filepath.Join(os.TempDir(), "pipechaos-nodes")

// network is the environment's slot and, when namespaces are in use, its
// bridge and the FORWARD rule that lets namespaces talk over it (the
// root namespace's FORWARD policy may be DROP, as Docker leaves it).
type network struct {
	slot    int
	lock    *os.File
	netns   bool
	owner   string // "pid=<pid> session=<session>"
	session string
	pid     int
}

// allocSlot takes the first free slot.
func allocSlot() (int, *os.File, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return 0, nil, fmt.Errorf("create %s: %w", lockDir, err)
	}
	for s := range slots {
		f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("slot-%d.lock", s)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return 0, nil, fmt.Errorf("open slot lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return s, f, nil
	}
	return 0, nil, fmt.Errorf("all %d environment slots of the nodes backend are taken (lock files in %s): close other environments", slots, lockDir)
}

func (n *network) bridge() string    { return fmt.Sprintf("%s%d", namePrefix, n.slot) }
func (n *network) bridgeIP() string  { return fmt.Sprintf("%s.%d", subnetPrefix, 16*n.slot+1) }
func (n *network) veth(i int) string { return fmt.Sprintf("%s%dv%d", namePrefix, n.slot, i) }
func (n *network) nsName(node string) string {
	return fmt.Sprintf("%s-%d-%s-%s", namePrefix, n.pid, n.session, node)
}

// hostIP is the address of the i-th node of the environment.
func (n *network) hostIP(i int) string {
	if n.netns {
		return fmt.Sprintf("%s.%d", subnetPrefix, 16*n.slot+2+i)
	}
	return fmt.Sprintf("127.213.%d.%d", n.slot, 2+i)
}

// canNetns reports whether namespaces can be made here, and why not.
func canNetns() error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed", tool)
		}
	}
	probe := fmt.Sprintf("%s-probe-%d", namePrefix, os.Getpid())
	if err := run("ip", "netns", "add", probe); err != nil {
		return err
	}
	return run("ip", "netns", "del", probe)
}

// setup creates the bridge and the FORWARD rule (namespaces only).
func (n *network) setup() error {
	if !n.netns {
		return nil
	}
	br := n.bridge()
	_ = run("ip", "link", "del", br) // a dead owner's, the slot lock says it is ours now
	steps := [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "link", "set", "dev", br, "alias", n.alias()},
		{"ip", "addr", "add", n.bridgeIP() + "/28", "dev", br},
		{"ip", "link", "set", br, "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	return run(append([]string{"iptables", "-I"}, n.forwardRule()...)...)
}

func (n *network) alias() string { return ruleTag + " " + n.owner }

func (n *network) forwardRule() []string {
	br := n.bridge()
	return []string{"FORWARD", "-i", br, "-o", br, "-j", "ACCEPT", "-m", "comment", "--comment", ruleTag + " " + n.owner}
}

// addHost makes node's namespace with address ip, wired to the bridge as
// veth number i, with the fault chains in place.
func (n *network) addHost(i int, node, ip string) error {
	if !n.netns {
		return nil
	}
	ns, veth := n.nsName(node), n.veth(i)
	_ = run("ip", "link", "del", veth)
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", veth, "master", n.bridge(), "up"},
		{"ip", "-n", ns, "addr", "add", ip + "/28", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	for _, chain := range []string{chainClients, chainPeers} {
		if err := n.ipt(node, "-N", chain); err != nil {
			return err
		}
		for _, hook := range []string{"INPUT", "OUTPUT"} {
			if err := n.ipt(node, "-A", hook, "-j", chain); err != nil {
				return err
			}
		}
	}
	return nil
}

// The chains inside a broker's namespace that hold its faults: one for
// the cut from clients, one for the cut from peers; healing flushes one.
const (
	chainClients = "PIPECHAOS-CLIENTS"
	chainPeers   = "PIPECHAOS-PEERS"
)

// ipt runs iptables inside node's namespace.
func (n *network) ipt(node string, args ...string) error {
	return run(append([]string{"ip", "netns", "exec", n.nsName(node), "iptables", "-w"}, args...)...)
}

// cutClients drops the client traffic of node (everything between it and
// the root namespace, where clients and the harness run).
func (n *network) cutClients(node string) error {
	if err := n.ipt(node, "-F", chainClients); err != nil {
		return err
	}
	b := n.bridgeIP()
	if err := n.ipt(node, "-A", chainClients, "-s", b, "-j", "DROP", "-m", "comment", "--comment", ruleTag); err != nil {
		return err
	}
	return n.ipt(node, "-A", chainClients, "-d", b, "-j", "DROP", "-m", "comment", "--comment", ruleTag)
}

// cutPeers drops every packet between node and the addresses peers (the
// other nodes of its region: replication and controller traffic).
func (n *network) cutPeers(node string, peers []string) error {
	if err := n.ipt(node, "-F", chainPeers); err != nil {
		return err
	}
	for _, p := range peers {
		for _, dir := range []string{"-s", "-d"} {
			if err := n.ipt(node, "-A", chainPeers, dir, p, "-j", "DROP", "-m", "comment", "--comment", ruleTag); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *network) heal(node, chain string) error { return n.ipt(node, "-F", chain) }

// wrap prefixes argv so it runs inside node's namespace.
func (n *network) wrap(node string, argv []string) []string {
	if !n.netns {
		return argv
	}
	return append([]string{"ip", "netns", "exec", n.nsName(node)}, argv...)
}

// teardown kills what still runs in the namespaces, deletes them, the
// bridge and the FORWARD rule, and releases the slot.
func (n *network) teardown(nodes []string) error {
	var errs []error
	if n.netns {
		for _, node := range nodes {
			errs = append(errs, deleteNetns(n.nsName(node)))
		}
		if linkExists(n.bridge()) {
			errs = append(errs, run("ip", "link", "del", n.bridge()))
		}
		for run(append([]string{"iptables", "-w", "-C"}, n.forwardRule()...)...) == nil {
			if err := run(append([]string{"iptables", "-w", "-D"}, n.forwardRule()...)...); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	if n.lock != nil {
		_ = syscall.Flock(int(n.lock.Fd()), syscall.LOCK_UN)
		n.lock.Close()
		n.lock = nil
	}
	return errors.Join(errs...)
}

// deleteNetns kills every process left in namespace ns and deletes it.
func deleteNetns(ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
		return nil
	}
	if out, err := output("ip", "netns", "pids", ns); err == nil {
		for _, f := range strings.Fields(out) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return run("ip", "netns", "del", ns)
}

func linkExists(name string) bool { return run("ip", "link", "show", "dev", name) == nil }

// run runs a command and returns its output in the error when it fails.
func run(argv ...string) error {
	_, err := output(argv...)
	return err
}

func output(argv ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
