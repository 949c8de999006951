package connect_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors"
	"github.com/pipechaos/pipechaos/harness/connect"
)

const (
	routerClass = "io.pipechaos.connect.HeaderRouter"
	buggyClass  = "io.pipechaos.connect.BuggyHeaderRouter"
	sinkClass   = "io.pipechaos.connect.LineSink"
)

// TestWorker runs a real worker against a real broker: the SMT pair under
// errors.tolerance=none, kill -9 and restart, a heap cap ending in an OOM,
// and the sweep of a dead harness's worker. The subtests share the broker
// and run in order.
func TestWorker(t *testing.T) {
	if why := connect.Available(); why != "" {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	begin := time.Now()
	dist, err := connect.ResolveDist(ctx)
	require.NoError(t, err)
	plugins, err := connect.Plugins(ctx)
	require.NoError(t, err)
	t.Logf("worker classpath %s and plugins %s ready in %s", dist.Dir, plugins, time.Since(begin).Round(time.Millisecond))

	b := startBroker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Bootstrap), kgo.ProducerBatchMaxBytes(4<<20), kgo.MaxBufferedRecords(256))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	root := t.TempDir()

	want := produceSites(ctx, t, cl, adm, "audit", 4, 400)

	t.Run("header router pair under errors.tolerance=none, kill -9, restart", func(t *testing.T) {
		start := time.Now()
		w, err := connect.Start(ctx, connect.Config{Bootstrap: b.Bootstrap, Group: "connect-a", ReplicationFactor: 1,
			PluginPath: []string{plugins}, Root: root, Logf: t.Logf})
		t.Cleanup(func() { w.Close() })
		require.NoError(t, err)
		t.Logf("MEASURED worker start: %s to a healthy REST API; RSS %s", time.Since(start).Round(time.Millisecond), mib(w.RSS()))
		ps, err := w.Plugins(ctx)
		require.NoError(t, err)
		for _, c := range []string{routerClass, buggyClass, sinkClass} {
			require.Contains(t, ps, c, "the worker did not load %s from plugin.path", c)
		}

		out := t.TempDir()
		require.NoError(t, w.PutConnector(ctx, "fixed", lineSink(filepath.Join(out, "fixed"), "audit", routerClass, 2)))
		require.NoError(t, w.PutConnector(ctx, "buggy", lineSink(filepath.Join(out, "buggy"), "audit", buggyClass, 1)))

		// Fixed: every record written once, under the route its header calls for.
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
		defer wcancel()
		got := waitLines(wctx, t, filepath.Join(out, "fixed"), len(want.route))
		misrouted, exc := 0, map[string]int{}
		for id, l := range got {
			if l.Headers["pipechaos-route"] != want.route[id] {
				misrouted++
			}
			if r := l.Headers["pipechaos-filter-exception"]; r != "" {
				exc[r]++
			}
		}
		require.Len(t, got, len(want.route))
		require.Zero(t, misrouted, "records under the wrong route")
		require.Equal(t, want.bad, exc, "records marked as routed by default, by reason")
		st, err := w.Status(ctx, "fixed")
		require.NoError(t, err)
		require.True(t, st.AllRunning(), "fixed: %s", st)
		require.Eventually(t, func() bool { return lag(ctx, t, adm, "connect-fixed", "audit") == 0 }, time.Minute, 200*time.Millisecond,
			"the fixed connector's group did not commit the whole topic")

		// Buggy: the REST API reports the task FAILED; records are missing and the group's lag stays.
		st, err = w.WaitStatus(wctx, "buggy", func(s connect.Status) bool { return len(s.Failed()) > 0 })
		require.NoError(t, err, "the buggy router's task never FAILED per the REST API")
		f := st.Failed()[0]
		t.Logf("buggy: %s; the worker's trace starts %q", st, firstLine(f.Trace))
		require.Contains(t, f.Trace, "NullPointerException")
		buggyLines := readLines(t, filepath.Join(out, "buggy"))
		buggyLag := lag(ctx, t, adm, "connect-buggy", "audit")
		t.Logf("buggy: %d of %d records written, lag %d", len(buggyLines), len(want.route), buggyLag)
		require.Less(t, len(buggyLines), len(want.route))
		require.Positive(t, buggyLag)

		// SIGSTOP: the process is stopped and its REST API does not answer; SIGCONT: it answers again.
		require.NoError(t, w.Pause())
		require.Eventually(t, func() bool { return procState(w.PID()) == "T" }, 10*time.Second, 50*time.Millisecond, "the worker is not stopped after SIGSTOP")
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = w.Status(pctx, "fixed")
		pcancel()
		require.Error(t, err, "a paused worker answered its REST API")
		require.NoError(t, w.Resume())
		_, err = w.WaitStatus(wctx, "fixed", connect.Status.AllRunning)
		require.NoError(t, err, "the worker did not come back after SIGCONT")

		// kill -9: the process and its group are gone, nothing listens.
		pid := w.PID()
		require.NoError(t, w.Kill())
		e, ok := w.Exited()
		require.True(t, ok)
		require.Equal(t, syscall.SIGKILL, e.Signal)
		require.False(t, e.OOM)
		require.ErrorIs(t, syscall.Kill(-pid, 0), syscall.ESRCH, "processes left in the killed worker's group")
		_, err = w.Status(ctx, "fixed")
		require.Error(t, err, "the REST API still answers after kill -9")

		// Restart: the same group, REST port and connectors, from Kafka.
		start = time.Now()
		require.NoError(t, w.Restart(ctx))
		t.Logf("MEASURED worker restart: %s to a healthy REST API", time.Since(start).Round(time.Millisecond))
		st, err = w.WaitStatus(wctx, "fixed", connect.Status.AllRunning)
		require.NoError(t, err)
		st, err = w.WaitStatus(wctx, "buggy", func(s connect.Status) bool { return len(s.Failed()) > 0 })
		require.NoError(t, err, "after the restart the buggy task fails again on the same record")
		t.Logf("MEASURED peak RSS over both runs: %s (-Xmx256m)", mib(w.PeakRSS()))

		dir := w.Dir()
		pid = w.PID()
		require.NoError(t, w.Close())
		require.NoDirExists(t, dir)
		require.ErrorIs(t, syscall.Kill(-pid, 0), syscall.ESRCH)
	})

	t.Run("a connector as a connectors.Sink: Run fails with the FAILED task, or runs until Close", func(t *testing.T) {
		out := t.TempDir()
		factory := func(router string) connectors.SinkFactory {
			return connect.SinkFactory(connect.SinkConfig{
				Worker: connect.Config{PluginPath: []string{plugins}, Root: root, Logf: t.Logf},
				Connector: map[string]string{"connector.class": sinkClass, "file": filepath.Join(out, "${name}"), "tasks.max": "2",
					"header.converter": "org.apache.kafka.connect.storage.StringConverter", "errors.tolerance": "none",
					"transforms": "site", "transforms.site.type": router},
			})
		}
		_, err := factory(routerClass)(connectors.Addresses{Brokers: []string{b.Bootstrap}, Topic: "audit"}, "bad")
		require.NoError(t, err)
		bad := connect.SinkFactory(connect.SinkConfig{Connector: map[string]string{"connector.class": sinkClass, "file": "${nowhere}"}})
		_, err = bad(connectors.Addresses{Brokers: []string{b.Bootstrap}}, "bad")
		require.ErrorContains(t, err, "unknown placeholder ${nowhere}")

		s, err := factory(buggyClass)(connectors.Addresses{Brokers: []string{b.Bootstrap}, Topic: "audit", Group: "audit-buggy"}, "buggy-sink")
		require.NoError(t, err)
		rctx, rcancel := context.WithTimeout(ctx, 8*time.Minute)
		defer rcancel()
		err = s.Run(rctx)
		require.ErrorContains(t, err, "FAILED per GET /connectors/buggy-sink/status")
		t.Logf("buggy sink's Run: %v", err)
		require.Equal(t, int64(len(want.route)), lag(ctx, t, adm, "audit-buggy", "audit"), "the connector committed in the scenario's group")

		s, err = factory(routerClass)(connectors.Addresses{Brokers: []string{b.Bootstrap}, Topic: "audit", Group: "audit-fixed"}, "fixed-sink")
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		waitLines(rctx, t, filepath.Join(out, "fixed-sink"), len(want.route))
		require.Eventually(t, func() bool { return lag(ctx, t, adm, "audit-fixed", "audit") == 0 }, time.Minute, 200*time.Millisecond)
		// Kill: Run reports the worker's end; nothing is left behind.
		ks := s.(*connect.Sink)
		dir, pid := ks.Worker().Dir(), ks.Worker().PID()
		require.Positive(t, ks.PeakRSS())
		require.NoError(t, ks.Kill())
		require.ErrorContains(t, <-done, "ended by signal 9")
		require.NoDirExists(t, dir, "the killed sink's worker directory was left behind")
		require.ErrorIs(t, syscall.Kill(-pid, 0), syscall.ESRCH)

		// A new instance in the same group resumes from the committed offsets; Close ends Run with nil.
		s, err = factory(routerClass)(connectors.Addresses{Brokers: []string{b.Bootstrap}, Topic: "audit", Group: "audit-fixed"}, "fixed-sink-2")
		require.NoError(t, err)
		go func() { done <- s.Run(rctx) }()
		require.Eventually(t, func() bool { w := s.(*connect.Sink).Worker(); return w != nil && w.Starts() == 1 }, 2*time.Minute, 100*time.Millisecond)
		_, err = s.(*connect.Sink).Worker().WaitStatus(rctx, "fixed-sink-2", connect.Status.AllRunning)
		require.NoError(t, err)
		dir = s.(*connect.Sink).Worker().Dir()
		s.Close()
		require.NoError(t, <-done)
		require.NoDirExists(t, dir, "the sink's worker was not cleaned up")
		require.Empty(t, readLines(t, filepath.Join(out, "fixed-sink-2")), "the second instance rewrote records the group had committed")
	})

	t.Run("the router pair in front of an S3 sink, into MinIO, read by the checker", func(t *testing.T) {
		fixed, buggy := startMinIO(t, "audit-fixed"), startMinIO(t, "audit-buggy")
		w, err := connect.Start(ctx, connect.Config{Bootstrap: b.Bootstrap, Group: "connect-s3", ReplicationFactor: 1,
			PluginPath: []string{plugins}, Root: root, Logf: t.Logf})
		t.Cleanup(func() { w.Close() })
		require.NoError(t, err)
		s3 := func(m *testMinIO, router string) map[string]string {
			return map[string]string{"connector.class": "io.pipechaos.connect.S3JsonSink", "topics": "audit", "tasks.max": "2",
				"s3.endpoint": "http://" + m.Endpoint, "s3.bucket": m.Bucket, "s3.access.key": m.AccessKey, "s3.secret.key": m.SecretKey,
				"flush.size": "50", "errors.tolerance": "none", "header.converter": "org.apache.kafka.connect.storage.StringConverter",
				"transforms": "site", "transforms.site.type": router}
		}
		require.NoError(t, w.PutConnector(ctx, "s3-fixed", s3(fixed, routerClass)))
		require.NoError(t, w.PutConnector(ctx, "s3-buggy", s3(buggy, buggyClass)))
		sctx, scancel := context.WithTimeout(ctx, 5*time.Minute)
		defer scancel()
		var got map[uint64][]string
		for {
			got = fixed.objects(sctx, t)
			if len(got) >= len(want.route) || sctx.Err() != nil {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		require.Len(t, got, len(want.route), "records of the fixed pipeline in the bucket")
		misrouted, dups := 0, 0
		for id, keys := range got {
			if len(keys) > 1 {
				dups++
			}
			if !strings.HasPrefix(keys[0], want.route[strconv.FormatUint(id, 10)]+"/topics/audit/partition=") {
				misrouted++
			}
		}
		require.Zero(t, dups, "records in more than one object")
		require.Zero(t, misrouted, "records under the wrong route prefix")
		st, err := w.WaitStatus(sctx, "s3-buggy", func(s connect.Status) bool { return len(s.Failed()) > 0 })
		require.NoError(t, err, "the buggy pipeline's task never FAILED per the REST API")
		require.Eventually(t, func() bool { return lag(ctx, t, adm, "connect-s3-fixed", "audit") == 0 }, time.Minute, 200*time.Millisecond)
		lost := len(want.route) - len(buggy.objects(ctx, t))
		t.Logf("S3: fixed: %d records in %s, none misrouted or duplicated; buggy: %s, %d of %d acked records never reached %s (lag %d)",
			len(got), fixed.Bucket, st, lost, len(want.route), buggy.Bucket, lag(ctx, t, adm, "connect-s3-buggy", "audit"))
		require.Positive(t, lost)
	})

	t.Run("a huge flush size under a small heap ends in an OOM seen from outside", func(t *testing.T) {
		const records, payload = 1500, 64 << 10
		produceBig(ctx, t, cl, "clicks", records, payload)
		w, err := connect.Start(ctx, connect.Config{Bootstrap: b.Bootstrap, Group: "connect-oom", ReplicationFactor: 1,
			PluginPath: []string{plugins}, Root: root, Heap: "96m", Logf: t.Logf})
		t.Cleanup(func() { w.Close() })
		require.NoError(t, err)
		cfg := lineSink(filepath.Join(t.TempDir(), "clicks"), "clicks", "", 1)
		cfg["flush.size"] = "10000000"
		require.NoError(t, w.PutConnector(ctx, "clicks", cfg))
		octx, ocancel := context.WithTimeout(ctx, 5*time.Minute)
		defer ocancel()
		e, err := w.Wait(octx)
		require.NoError(t, err, "the worker did not end; status then: %v", func() string { s, _ := w.Status(ctx, "clicks"); return s.String() }())
		l := lag(ctx, t, adm, "connect-clicks", "clicks")
		t.Logf("MEASURED OOM: %s; peak RSS %s under -Xmx96m; the group's lag %d of %d records", e, mib(w.PeakRSS()), l, records)
		require.True(t, e.OOM, "the worker ended without an OOM: %s\n%s", e, w.LogTail(20))
		require.Equal(t, 3, e.Code)
		require.Equal(t, int64(records), l, "the OOM came before any write: nothing may be committed")
	})

	t.Run("sweep kills the worker of a dead harness and removes its directory", func(t *testing.T) {
		w, err := connect.Start(ctx, connect.Config{Bootstrap: b.Bootstrap, Group: "connect-orphan", ReplicationFactor: 1, Root: root, Logf: t.Logf})
		t.Cleanup(func() { w.Close() })
		require.NoError(t, err)
		// Pretend the harness that started it died: its owner line names a pid that is not alive.
		owner := filepath.Join(w.Dir(), "owner")
		data, err := os.ReadFile(owner)
		require.NoError(t, err)
		lines := strings.SplitN(string(data), "\n", 2)
		require.NoError(t, os.WriteFile(owner, []byte("harness 2147483646 1\n"+lines[1]), 0o644))

		// The next Start sweeps first: the orphan is killed and its directory removed.
		kept, err := connect.Start(ctx, connect.Config{Bootstrap: b.Bootstrap, Group: "connect-kept", ReplicationFactor: 1, Root: root, Logf: t.Logf})
		t.Cleanup(func() { kept.Close() })
		require.NoError(t, err)
		select {
		case <-w.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("the orphaned worker still runs after the sweep")
		}
		e, _ := w.Exited()
		require.Equal(t, syscall.SIGKILL, e.Signal)
		require.NoDirExists(t, w.Dir())
		// A live harness's worker (this test's) is left alone.
		removed, err := connect.Sweep(root)
		require.NoError(t, err)
		require.Empty(t, removed)
		require.DirExists(t, kept.Dir(), "the sweep removed a live harness's worker")
		_, exited := kept.Exited()
		require.False(t, exited, "the sweep killed a live harness's worker")
		require.NoError(t, kept.Close())
		entries, err := os.ReadDir(root)
		require.NoError(t, err)
		require.Empty(t, entries, "worker directories left under the root")
	})
}

// sites is what the producer had acked: each ID's route and the bad headers by reason.
type sites struct {
	route map[string]string
	bad   map[string]int
}

// produceSites writes n records with a wm-site-id header mix: absent,
// null, malformed, US, CA.
func produceSites(ctx context.Context, t *testing.T, cl *kgo.Client, adm *kadm.Client, topic string, partitions int32, n int) sites {
	t.Helper()
	_, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	require.NoError(t, err)
	s := sites{route: map[string]string{}, bad: map[string]int{}}
	var recs []*kgo.Record
	for i := 1; i <= n; i++ {
		id := strconv.Itoa(i)
		r := &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i%16)), Value: []byte("v" + id),
			Headers: []kgo.RecordHeader{{Key: "pipechaos-id", Value: []byte(id)}}}
		route, reason := "site=us", ""
		switch {
		case i%29 == 0: // absent
			reason = "absent"
		case i%31 == 0:
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "wm-site-id", Value: nil})
			reason = "null"
		case i%37 == 0:
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "wm-site-id", Value: []byte("u$")})
			reason = "malformed"
		case i%2 == 0:
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "wm-site-id", Value: []byte("CA")})
			route = "site=intl"
		default:
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "wm-site-id", Value: []byte("US")})
		}
		s.route[id] = route
		if reason != "" {
			s.bad[reason]++
		}
		recs = append(recs, r)
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	return s
}

func produceBig(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, n, size int) {
	t.Helper()
	_, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
	require.NoError(t, err)
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	for i := 0; i < n; i += 100 {
		var recs []*kgo.Record
		for j := i; j < i+100 && j < n; j++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: payload, Headers: []kgo.RecordHeader{{Key: "pipechaos-id", Value: []byte(strconv.Itoa(j + 1))}}})
		}
		require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	}
}

// lineSink is a LineSink connector's config, with the router class as its
// transform ("" for none), under errors.tolerance=none.
func lineSink(file, topic, router string, tasks int) map[string]string {
	c := map[string]string{
		"connector.class":  sinkClass,
		"topics":           topic,
		"file":             file,
		"tasks.max":        strconv.Itoa(tasks),
		"header.converter": "org.apache.kafka.connect.storage.StringConverter",
		"errors.tolerance": "none",
	}
	if router != "" {
		c["transforms"] = "site"
		c["transforms.site.type"] = router
	}
	return c
}

type line struct {
	Topic     string            `json:"topic"`
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Headers   map[string]string `json:"headers"`
}

// readLines reads every task file of a LineSink, by record ID; a
// duplicate fails the test.
func readLines(t *testing.T, file string) map[string]line {
	t.Helper()
	paths, err := filepath.Glob(file + ".task-*")
	require.NoError(t, err)
	out := map[string]line{}
	for _, p := range paths {
		f, err := os.Open(p)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l line
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue // a line cut by a kill is not a record
			}
			id := l.Headers["pipechaos-id"]
			if _, dup := out[id]; dup {
				f.Close()
				t.Fatalf("record %s written twice (%s)", id, p)
			}
			out[id] = l
		}
		f.Close()
	}
	return out
}

func waitLines(ctx context.Context, t *testing.T, file string, n int) map[string]line {
	t.Helper()
	for {
		got := readLines(t, file)
		if len(got) >= n {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d records written to %s", len(got), n, file)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lag is the records of topic past group's committed offsets, read from
// Kafka.
func lag(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kadm.ErrEmpty) {
		require.NoError(t, err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		at := int64(0)
		if ok && c.At >= 0 {
			at = c.At
		}
		total += o.Offset - at
	})
	return total
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// procState is the state letter of /proc/<pid>/stat ("T": stopped).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}
