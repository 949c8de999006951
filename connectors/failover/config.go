package failover

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Producer. Zero values take the default named in each
// field's comment; negative numbers are errors.
type Config struct {
	// Primary is the primary region's seed brokers, host:port. Required.
	Primary []string
	// Secondary is the secondary region's seed brokers. Required.
	Secondary []string
	// PrimaryName and SecondaryName name the regions in acks and metrics.
	// Defaults "primary" and "secondary".
	PrimaryName   string
	SecondaryName string

	// DeliveryTimeout bounds how long one region may take to acknowledge a
	// record (kgo.RecordDeliveryTimeout) before the producer gives up on
	// it: on the primary this is how fast an outage is noticed. Default 1s,
	// which is also franz-go's minimum.
	DeliveryTimeout time.Duration
	// RecordRetries bounds the retries of one record within one region
	// (kgo.RecordRetries). Default 20.
	RecordRetries int

	// KgoOpts are extra client options for both regions, applied after the
	// producer's own and before the region's seed brokers (a SeedBrokers
	// option here is overridden, so env.ClientOpts(nil) is fine).
	KgoOpts []kgo.Opt

	// Process names the producer in the metrics' "process" label and in
	// log lines. Default "failover".
	Process string
	// Registerer, if set, also gets the producer's metrics (they always
	// live on its own registry, see Metrics).
	Registerer prometheus.Registerer
	// Logf receives the producer's error lines. Default: discarded.
	Logf func(format string, args ...any)
}

const (
	defaultDeliveryTimeout = time.Second
	defaultRecordRetries   = 20
	defaultProcess         = "failover"
	defaultPrimaryName     = "primary"
	defaultSecondaryName   = "secondary"
)

func (c Config) withDefaults() Config {
	if c.PrimaryName == "" {
		c.PrimaryName = defaultPrimaryName
	}
	if c.SecondaryName == "" {
		c.SecondaryName = defaultSecondaryName
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = defaultDeliveryTimeout
	}
	if c.RecordRetries == 0 {
		c.RecordRetries = defaultRecordRetries
	}
	if c.Process == "" {
		c.Process = defaultProcess
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// validate reports every problem with c (after defaults), one per line.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Primary) == 0 {
		bad("no primary brokers: set Primary to the primary region's bootstrap addresses")
	}
	if len(c.Secondary) == 0 {
		bad("no secondary brokers: set Secondary to the secondary region's bootstrap addresses; a failover producer without a secondary cannot fail over")
	}
	for _, b := range append(append([]string(nil), c.Primary...), c.Secondary...) {
		if strings.TrimSpace(b) == "" {
			bad("an empty broker address is in Primary or Secondary: remove it")
			break
		}
	}
	if c.PrimaryName == c.SecondaryName {
		bad("both regions are named %q: give PrimaryName and SecondaryName distinct names", c.PrimaryName)
	}
	if c.DeliveryTimeout < time.Second {
		bad("delivery timeout must be at least 1s, franz-go's minimum (got %s): leave it zero for the default of %s", c.DeliveryTimeout, defaultDeliveryTimeout)
	}
	if c.RecordRetries < 0 {
		bad("record retries cannot be negative (got %d): leave it zero for the default of %d", c.RecordRetries, defaultRecordRetries)
	}
	return errors.Join(errs...)
}
