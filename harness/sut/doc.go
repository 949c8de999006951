// Package sut runs a system under test as a process the harness controls:
// started with the addresses of the environment in its environment
// variables, killed with SIGKILL, paused with SIGSTOP and resumed with
// SIGCONT, stopped with SIGTERM, restarted with the same spec (same name,
// log, memory cap; a sink restarted this way rejoins its consumer group),
// capped in memory and measured from outside. The judge never asks the
// system how it is doing: peak RSS comes from the kernel (wait4 maxrss and
// /proc/<pid>/status VmHWM sampled every 20ms, summed over the process's
// cgroup), an OOM kill from the cgroup's oom_kill counter.
//
// Three ways to make a process, one Process type:
//
//   - ForFactory: a Go connectors.SinkFactory registered by name
//     (Register) in the binary that runs the harness; the binary
//     re-executes itself (os.Executable, with -test.run=^$ in a test
//     binary) and its TestMain or main calls Main first, which serves the
//     factory named in PIPECHAOS_SUT_FACTORY and exits. This is how the
//     catalogue runs its own s3sink variants.
//   - InTest: the helper-process pattern without registration: the child
//     reruns only the calling test, whose first statement is
//     ServeInTest(t, factory) (scenarios.SinkConformance does it for you),
//     so a user's factory written in the test file needs no other line.
//   - ForCommand: any program in any language, through /bin/sh -c.
//
// Every process gets the addresses as PIPECHAOS_BROKERS (comma-separated
// host:port), PIPECHAOS_TOPIC, PIPECHAOS_GROUP, PIPECHAOS_REGISTRY_URL,
// PIPECHAOS_S3_ENDPOINT (host:port, plain HTTP), PIPECHAOS_S3_ACCESS_KEY,
// PIPECHAOS_S3_SECRET_KEY, PIPECHAOS_BUCKET and PIPECHAOS_SINK_NAME (unique
// per process in a run); AddressesFromEnv reads them back. It must stop
// cleanly on SIGTERM (flush, commit, exit 0) and may be killed at any
// instant.
//
// Memory: with the cgroup v1 memory controller mounted at
// /sys/fs/cgroup/memory, every process gets a child cgroup
// pipechaos/<harness pid>-<n>-<name> (its whole process tree is in it;
// memory.limit_in_bytes caps it when Spec.MemoryLimit is set). The process
// is moved into it right after fork, so the first milliseconds of a
// program are not capped. Without the controller the cap is RLIMIT_AS
// (prlimit) of the process alone, which fails allocations instead of
// OOM-killing.
//
// Output: stdout and stderr of every instance go to one log file under
// $TMPDIR/pipechaos-sut/<harness pid>/ (LogPath, Tail); StartT logs the
// tail when the test failed.
//
// Cleanup: Close kills what runs and removes the cgroup; StartT closes at
// test cleanup, which runs after a panic too; every child gets
// Pdeathsig=SIGKILL (it dies with the harness's thread that started it)
// and PIPECHAOS_SUT_OWNER=<harness pid>:<start time>, and the first Start
// of a harness sweeps (Sweep) the processes, cgroups and log directories
// of harnesses that are gone.
package sut
