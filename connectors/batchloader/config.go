package batchloader

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pipechaos/pipechaos/connectors/internal/s3store"
)

// Config configures a Job. Zero values take the default named in each
// field's comment.
type Config struct {
	// Brokers is the seed broker list, host:port. Required.
	Brokers []string
	// Topic is the topic to load. Required.
	Topic string
	// Name names the job: its bookmark file, its object prefix and its
	// metrics' "process" label. Default "batchloader-<Topic>".
	Name string
	// Group, if set, is a consumer group the job commits its bookmarks to
	// after each run (no member ever joins it). The fixed job resumes a
	// partition that has no bookmark from the group's committed offset;
	// without a group, from the partition's earliest offset.
	Group string

	// S3Endpoint is the store's host:port (plain HTTP), or a URL whose
	// scheme says http or https. Required.
	S3Endpoint string
	// S3AccessKey and S3SecretKey are the store's static credentials.
	S3AccessKey string
	S3SecretKey string
	// Bucket holds the bookmark file and the loaded objects; it must
	// exist. Required.
	Bucket string
	// BookmarkKey is the object holding the bookmarks, a JSON object.
	// Default "bookmarks/<Name>.json".
	BookmarkKey string
	// Prefix is where the loaded objects go:
	// <Prefix>/topics/<topic>/partition=<p>/<topic>+<p>+<startOffset>.jsonl.
	// Default "loads/<Name>".
	Prefix string

	// Assignment decides which of the topic's partitions a run owns. In
	// production this is the share a coordinator (a consumer group, the
	// scheduler) gave this worker for this run; a run reads, writes and
	// bookmarks only the partitions it owns. Default: every partition.
	Assignment func(partitions []int32) []int32

	// RunTimeout bounds one run: listing, reading up to the end offsets,
	// writing and bookmarking. Default 30s.
	RunTimeout time.Duration

	// Registerer, if set, also gets the job's metrics (they always live on
	// the job's own registry, see Metrics).
	Registerer prometheus.Registerer
	// Logf receives the job's progress lines. Default: discarded.
	Logf func(format string, args ...any)
	// KgoOpts are extra client options, appended after the job's own (so
	// they win); scenarios pass env.ClientOpts(region.Bootstrap()).
	KgoOpts []kgo.Opt
	// Now is the clock of the freshness SLI. Default time.Now.
	Now func() time.Time
}

const defaultRunTimeout = 30 * time.Second

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Name == "" && c.Topic != "" {
		c.Name = "batchloader-" + c.Topic
	}
	if c.BookmarkKey == "" {
		c.BookmarkKey = "bookmarks/" + c.Name + ".json"
	}
	if c.Prefix == "" {
		c.Prefix = "loads/" + c.Name
	}
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	if c.Assignment == nil {
		c.Assignment = func(ps []int32) []int32 { return ps }
	}
	if c.RunTimeout == 0 {
		c.RunTimeout = defaultRunTimeout
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate reports every problem with c (after defaults), one per line.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	errs = append(errs, s3store.Where(c.Brokers, c.Topic, "load", c.S3Endpoint, c.Bucket)...)
	if c.Prefix == "" {
		bad("the object prefix cannot be empty: the checker reads the loads under it, apart from the bookmarks")
	}
	if strings.HasPrefix(c.BookmarkKey, c.Prefix+"/") {
		bad("the bookmark file %q lies under the object prefix %q: move it out, it is not a load", c.BookmarkKey, c.Prefix)
	}
	if c.RunTimeout < 0 {
		bad("run timeout cannot be negative (got %s)", c.RunTimeout)
	}
	return errors.Join(errs...)
}
