package s3store

import (
	"errors"
	"strings"
)

// Where checks the addresses a Kafka→S3 connector cannot run without — seed
// brokers, the topic (use says what the connector does with it: "sink",
// "load"), the store's endpoint and bucket — and returns one error per
// problem, each naming what to set.
func Where(brokers []string, topic, use, endpoint, bucket string) []error {
	var errs []error
	if len(brokers) == 0 {
		errs = append(errs, errors.New("no brokers: set Brokers to the region's bootstrap addresses"))
	}
	for _, b := range brokers {
		if strings.TrimSpace(b) == "" {
			errs = append(errs, errors.New("an empty broker address is in Brokers: remove it"))
		}
	}
	if topic == "" {
		errs = append(errs, errors.New("no topic: set Topic to the topic to "+use))
	}
	if endpoint == "" {
		errs = append(errs, errors.New("no object store: set S3Endpoint to the store's host:port"))
	}
	if bucket == "" {
		errs = append(errs, errors.New("no bucket: set Bucket to an existing bucket"))
	}
	return errs
}
