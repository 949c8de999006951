package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

type schemaOpts struct {
	registry string
	subject  string
	schema   string
	typ      string
	version  string
	timeout  time.Duration
}

var schemaCheckCmd = &command{
	name:  "schema check",
	args:  "--registry URL --subject S --schema file.avsc [--version latest|all|n] [--type avro|json|protobuf]",
	short: "before a migration: is this schema compatible with the subject, and why not",
	long: `Asks the schema registry whether a new schema is compatible with the
subject's registered versions under the subject's compatibility level, with
the registry's reasons (verbose). Run it before a migration: an
incompatible change (a removed field without a default, a changed type) is
what broke the table writer in incident 7.

Prints is_compatible and every message. Exit status: 0 compatible,
1 incompatible (or the registry could not answer), 2 usage mistake.`,
	flags: func(fs *flag.FlagSet) any {
		o := &schemaOpts{}
		fs.StringVar(&o.registry, "registry", "", "schema registry URL, e.g. http://127.0.0.1:8081 (required)")
		fs.StringVar(&o.subject, "subject", "", "subject to check against, e.g. events-value (required)")
		fs.StringVar(&o.schema, "schema", "", "file holding the new schema (required)")
		fs.StringVar(&o.typ, "type", "avro", "schema type: avro, json or protobuf")
		fs.StringVar(&o.version, "version", "latest", "check against: latest, all, or a version number")
		fs.DurationVar(&o.timeout, "timeout", 15*time.Second, "give up on the registry after this long")
		return o
	},
	run: schemaCheckRun,
}

func schemaCheckRun(ctx context.Context, c *cli, cmd *command, opts any, args []string) int {
	o := opts.(*schemaOpts)
	if len(args) > 0 {
		return c.usageErr(cmd, "takes no arguments, got %q (the schema goes in --schema)", strings.Join(args, " "))
	}
	switch {
	case o.registry == "":
		return c.usageErr(cmd, "--registry is required")
	case o.subject == "":
		return c.usageErr(cmd, "--subject is required")
	case o.schema == "":
		return c.usageErr(cmd, "--schema is required")
	}
	if u, err := url.Parse(o.registry); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c.usageErr(cmd, "--registry %q is not an http(s) URL", o.registry)
	}
	var typ sr.SchemaType
	switch strings.ToLower(o.typ) {
	case "avro":
		typ = sr.TypeAvro
	case "json":
		typ = sr.TypeJSON
	case "protobuf":
		typ = sr.TypeProtobuf
	default:
		return c.usageErr(cmd, "--type %q: use avro, json or protobuf", o.typ)
	}
	version := -1
	switch o.version {
	case "latest":
	case "all":
		version = -2
	default:
		n, err := strconv.Atoi(o.version)
		if err != nil || n < 1 {
			return c.usageErr(cmd, "--version %q: use latest, all or a version number", o.version)
		}
		version = n
	}
	data, err := os.ReadFile(o.schema)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return c.usageErr(cmd, "schema file %s does not exist", o.schema)
		}
		return c.usageErr(cmd, "read schema file: %v", err)
	}
	if strings.TrimSpace(string(data)) == "" {
		return c.usageErr(cmd, "schema file %s is empty", o.schema)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl, err := sr.NewClient(sr.URLs(o.registry), sr.HTTPClient(&http.Client{Transport: tr, Timeout: o.timeout}))
	if err != nil {
		return c.fail(cmd, "registry client: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), o.subject, version, sr.Schema{Schema: string(data), Type: typ})
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) {
			switch re.ErrorCode {
			case 40401:
				c.printf("is_compatible: true\nsubject %s does not exist yet: there is nothing to be incompatible with; the first registration sets its baseline.\n", o.subject)
				return exitOK
			case 40402:
				return c.fail(cmd, "subject %s has no version %s: %s", o.subject, o.version, re.Message)
			case 42201:
				return c.fail(cmd, "the registry cannot parse %s as a %s schema: %s", o.schema, o.typ, re.Message)
			}
			return c.fail(cmd, "registry %s answered %d (error code %d): %s", o.registry, re.StatusCode, re.ErrorCode, re.Message)
		}
		return c.fail(cmd, "ask %s: %v (is the registry up? `pipechaos up` prints its URL)", o.registry, err)
	}
	c.printf("is_compatible: %t\n", res.Is)
	for _, m := range res.Messages {
		c.printf("  - %s\n", m)
	}
	if !res.Is {
		if len(res.Messages) == 0 {
			c.printf("  (the registry gave no reasons)\n")
		}
		fmt.Fprintf(c.stderr, "pipechaos schema check: %s is not compatible with subject %s (%s): fix the schema (add fields as optional with defaults) before migrating\n", o.schema, o.subject, o.version)
		return exitFail
	}
	return exitOK
}
