package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pipechaos/pipechaos/harness/env"
)

type upOpts struct {
	backend string
	brokers int
	topics  string
	envFile string
}

var upCmd = &command{
	name:  "up",
	args:  "[--backend embedded|containers] [--brokers n] [--topics name:partitions,...] [--env-file path]",
	short: "start an environment for kcat or your own connector; Ctrl-C tears it down",
	long: `Starts an environment (two Kafka regions, a schema registry, an S3 store)
and prints how to reach it: bootstrap servers, the registry URL, the S3
endpoint and credentials. Point kcat, a Kafka Connect worker or your own
connector at it. It runs until Ctrl-C (or SIGTERM), then tears everything down.

--env-file writes the same addresses as KEY=value lines (PIPECHAOS_PRIMARY_BOOTSTRAP,
PIPECHAOS_SECONDARY_BOOTSTRAP, PIPECHAOS_REGISTRY_URL, PIPECHAOS_S3_ENDPOINT,
PIPECHAOS_S3_ACCESS_KEY, PIPECHAOS_S3_SECRET_KEY, PIPECHAOS_S3_BUCKET) once
everything is ready, for scripts to source.`,
	flags: func(fs *flag.FlagSet) any {
		o := &upOpts{}
		fs.StringVar(&o.backend, "backend", "", "embedded or containers (default: $PIPECHAOS_BACKEND, else embedded); containers needs Docker and the images of `make images`")
		fs.IntVar(&o.brokers, "brokers", 3, "brokers per region")
		fs.StringVar(&o.topics, "topics", "events:3", "topics to create in both regions, name:partitions, comma-separated (\"\" for none)")
		fs.StringVar(&o.envFile, "env-file", "", "also write the addresses as KEY=value lines to this file when ready")
		return o
	},
	run: upRun,
}

type topicSpec struct {
	name       string
	partitions int32
}

func parseTopics(s string) ([]topicSpec, error) {
	var out []topicSpec
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, n, hasN := strings.Cut(part, ":")
		t := topicSpec{name: name, partitions: 1}
		if hasN {
			p, err := strconv.ParseInt(n, 10, 32)
			if err != nil || p < 1 {
				return nil, fmt.Errorf("--topics %q: partitions of %s must be a positive integer", s, name)
			}
			t.partitions = int32(p)
		}
		if t.name == "" {
			return nil, fmt.Errorf("--topics %q: a topic name is empty", s)
		}
		out = append(out, t)
	}
	return out, nil
}

func upRun(ctx context.Context, c *cli, cmd *command, opts any, args []string) int {
	o := opts.(*upOpts)
	if len(args) > 0 {
		return c.usageErr(cmd, "takes no arguments, got %q", strings.Join(args, " "))
	}
	if o.brokers < 1 {
		return c.usageErr(cmd, "--brokers must be at least 1, got %d", o.brokers)
	}
	topics, err := parseTopics(o.topics)
	if err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	backend, err := resolveBackend(o.backend)
	if err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	if o.envFile != "" {
		if _, err := os.Stat(filepath.Dir(o.envFile)); err != nil {
			return c.usageErr(cmd, "--env-file %s: its directory does not exist", o.envFile)
		}
	}
	began := time.Now()
	c.progress("starting the %s environment", backend)
	e, closeEnv, err := openEnv(ctx, backend, o.brokers, func(format string, args ...any) { c.progress(format, args...) })
	if err != nil {
		return c.fail(cmd, "%v", err)
	}
	defer func() {
		c.progress("tearing the environment down")
		if err := closeEnv(); err != nil {
			c.fail(cmd, "teardown: %v", err)
		}
		if o.envFile != "" {
			os.Remove(o.envFile)
		}
	}()
	for _, region := range []string{env.Primary, env.Secondary} {
		for _, t := range topics {
			tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := e.Region(region).CreateTopic(tctx, t.name, t.partitions)
			cancel()
			if err != nil {
				return c.fail(cmd, "create topic %s in region %s: %v", t.name, region, err)
			}
		}
	}
	vars := envVars(e)
	if o.envFile != "" {
		if err := writeEnvFile(o.envFile, vars); err != nil {
			return c.fail(cmd, "write --env-file: %v", err)
		}
	}
	primary := strings.Join(e.Region(env.Primary).Bootstrap(), ",")
	st := e.Store()
	c.printf("pipechaos environment is up (%s backend, ready in %s). Ctrl-C tears it down.\n\n", backend, time.Since(began).Round(time.Millisecond))
	c.printf("kafka primary     %s\n", primary)
	c.printf("kafka secondary   %s\n", strings.Join(e.Region(env.Secondary).Bootstrap(), ","))
	c.printf("schema registry   %s\n", e.Registry().URL())
	c.printf("s3 endpoint       http://%s  (plain HTTP, path-style addressing)\n", st.Endpoint())
	c.printf("s3 access key     %s\n", st.AccessKey())
	c.printf("s3 secret key     %s\n", st.SecretKey())
	c.printf("s3 bucket         %s\n", st.Bucket())
	if len(topics) > 0 {
		var ts []string
		for _, t := range topics {
			ts = append(ts, fmt.Sprintf("%s (%d partitions)", t.name, t.partitions))
		}
		c.printf("topics            %s, in both regions\n", strings.Join(ts, ", "))
		c.printf("\nTry it:\n")
		c.printf("  echo 'k1:hello' | kcat -P -b %s -t %s -K:\n", primary, topics[0].name)
		c.printf("  kcat -C -b %s -t %s -e -f '%%p %%o %%k=%%s\\n'\n", primary, topics[0].name)
	}
	if o.envFile != "" {
		c.printf("\nAddresses written to %s (source it from a script).\n", o.envFile)
	}
	c.printf("\nup; waiting for Ctrl-C\n")
	<-ctx.Done()
	c.printf("\nshutting down\n")
	return exitOK
}

func envVars(e env.Environment) [][2]string {
	st := e.Store()
	return [][2]string{
		{"PIPECHAOS_BACKEND", e.Backend()},
		{"PIPECHAOS_PRIMARY_BOOTSTRAP", strings.Join(e.Region(env.Primary).Bootstrap(), ",")},
		{"PIPECHAOS_SECONDARY_BOOTSTRAP", strings.Join(e.Region(env.Secondary).Bootstrap(), ",")},
		{"PIPECHAOS_REGISTRY_URL", e.Registry().URL()},
		{"PIPECHAOS_S3_ENDPOINT", "http://" + st.Endpoint()},
		{"PIPECHAOS_S3_ACCESS_KEY", st.AccessKey()},
		{"PIPECHAOS_S3_SECRET_KEY", st.SecretKey()},
		{"PIPECHAOS_S3_BUCKET", st.Bucket()},
	}
}

// writeEnvFile writes the file through a rename, so a script waiting for it
// never reads half of it.
func writeEnvFile(path string, vars [][2]string) error {
	var b strings.Builder
	for _, kv := range vars {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], strconv.Quote(kv[1]))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
