package connect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigErrorsNameTheFieldAndTheFix(t *testing.T) {
	err := Config{Heap: "lots", ReplicationFactor: -2, PluginPath: []string{"/nonexistent/plugins"}, Name: "a/b"}.withDefaults().validate()
	require.Error(t, err)
	for _, want := range []string{"Bootstrap is empty", "ReplicationFactor -2", `Heap "lots"`, `plugin path "/nonexistent/plugins"`, `Name "a/b"`} {
		require.Contains(t, err.Error(), want)
	}
	require.NoError(t, Config{Bootstrap: "127.0.0.1:9092"}.withDefaults().validate())
}

func TestWorkerPropertiesDefaultsAndOverrides(t *testing.T) {
	w := &Worker{cfg: Config{Bootstrap: "b:1", Group: "g", ReplicationFactor: 3, PluginPath: []string{"/p1", "/p2"},
		Properties: map[string]string{"offset.storage.partitions": "1", "consumer.max.poll.records": "10"}}.withDefaults(), url: "http://127.0.0.1:1", port: 1}
	p := w.properties()
	require.Equal(t, "g-configs", p["config.storage.topic"])
	require.Equal(t, "3", p["status.storage.replication.factor"])
	require.Equal(t, "/p1,/p2", p["plugin.path"])
	require.Equal(t, "500", p["offset.flush.interval.ms"])
	require.Equal(t, "1", p["offset.storage.partitions"], "an override wins")
	require.Equal(t, "10", p["consumer.max.poll.records"])
	require.Equal(t, "service_load", p["plugin.discovery"])
	require.Equal(t, "-1", (&Worker{cfg: Config{}.withDefaults()}).properties()["config.storage.replication.factor"], "default: the brokers' default")
}

func TestOOMLineIsReadAfterTheRunsOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jvm.out")
	first := "Terminating due to java.lang.OutOfMemoryError: Java heap space\n"
	require.NoError(t, os.WriteFile(path, []byte(first+"a later run's output\n"), 0o644))
	require.Equal(t, strings.TrimSpace(first), oomLine(path, 0))
	require.Empty(t, oomLine(path, int64(len(first))), "an earlier run's OOM is not this run's")
}

func TestReadRSSAndStartOfThisProcess(t *testing.T) {
	rss, peak, err := readRSS(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, rss)
	require.GreaterOrEqual(t, peak, rss)
	a, err := procStart(os.Getpid())
	require.NoError(t, err)
	b, _ := procStart(os.Getpid())
	require.Equal(t, a, b)
	require.NotEmpty(t, a)
}
