// Package promreg registers a connector's metrics the way every connector
// does: always on its own registry (served at its /metrics), and also on a
// registerer the caller passed, if any.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register adds cs to own (which must not already hold them) and, if extra
// is not nil, to extra; it returns every error extra gave, joined.
func Register(own *prometheus.Registry, extra prometheus.Registerer, cs ...prometheus.Collector) error {
	var errs []error
	for _, c := range cs {
		own.MustRegister(c)
		if extra != nil {
			if err := extra.Register(c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
