package nodes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// metadataDir is the KRaft metadata log's directory inside a log dir.
const metadataDir = "__cluster_metadata-0"

// bootstrapSnapshot formats one throw-away node with
// kafka.tools.StorageTool (once per process) and returns the bootstrap
// snapshot it wrote: its file name and content.
func bootstrapSnapshot(dist, scratch string) (snapshot, error) {
	snapOnce.Do(func() {
		dir, err := os.MkdirTemp(scratch, "format-")
		if err != nil {
			snapErr = err
			return
		}
		defer os.RemoveAll(dir)
		props := filepath.Join(dir, "server.properties")
		data := filepath.Join(dir, "data")
		err = writeProps(props, map[string]string{
			"process.roles":                  "broker,controller",
			"node.id":                        "0",
			"controller.quorum.voters":       "0@127.0.0.1:9093",
			"listeners":                      "CLIENT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
			"listener.security.protocol.map": "CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"inter.broker.listener.name":     "CLIENT",
			"controller.listener.names":      "CONTROLLER",
			"log.dirs":                       data,
		})
		if err != nil {
			snapErr = err
			return
		}
		argv := append(jvmArgs(dist, filepath.Join(dir, "format.log")), "kafka.tools.StorageTool", "format", "-t", clusterID(), "-c", props)
		if out, err := output(argv...); err != nil {
			snapErr = fmt.Errorf("format storage with kafka.tools.StorageTool: %w\n%s", err, out)
			return
		}
		files, _ := filepath.Glob(filepath.Join(data, metadataDir, "*.checkpoint"))
		if len(files) != 1 {
			snapErr = fmt.Errorf("kafka.tools.StorageTool wrote %d bootstrap snapshots in %s, want 1", len(files), filepath.Join(data, metadataDir))
			return
		}
		b, err := os.ReadFile(files[0])
		snap, snapErr = snapshot{name: filepath.Base(files[0]), data: b}, err
	})
	return snap, snapErr
}

type snapshot struct {
	name string
	data []byte
}

var (
	snapOnce sync.Once
	snap     snapshot
	snapErr  error
)

// writeStorage lays out a formatted log dir for node id of cluster.
func writeStorage(dir string, s snapshot, cluster string, id int32) error {
	if err := os.MkdirAll(filepath.Join(dir, metadataDir), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, metadataDir, s.name), s.data, 0o400); err != nil {
		return err
	}
	meta := strings.Join([]string{
		"# written by the pipechaos nodes backend, as kafka.tools.StorageTool format does",
		fmt.Sprintf("node.id=%d", id),
		"directory.id=" + clusterID(),
		"version=1",
		"cluster.id=" + cluster,
	}, "\n") + "\n"
	return os.WriteFile(filepath.Join(dir, "meta.properties"), []byte(meta), 0o644)
}
