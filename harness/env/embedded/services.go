package embedded

import (
	"context"
	"errors"
	"fmt"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
	"github.com/pipechaos/pipechaos/harness/env"
)

// Credentials of the embedded store. gofakes3 accepts any signature; these
// exist so clients are configured the way they would be against S3.
const (
	AccessKey = "pipechaos"
	SecretKey = "pipechaos-secret"
)

// Store is gofakes3 with an in-memory backend behind a fault layer.
type Store struct {
	bucket string
	layer  *httpfault.Layer
	srv    *httpfault.Server
}

var _ env.Store = (*Store)(nil)

func startStore(bucket string) (*Store, error) {
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	faker := gofakes3.New(backend, gofakes3.WithIntegrityCheck(true))
	layer := httpfault.New(faker.Server(), httpfault.ErrorBody(httpfault.S3ErrorBody))
	srv, err := httpfault.Serve(layer, "")
	if err != nil {
		return nil, err
	}
	return &Store{bucket: bucket, layer: layer, srv: srv}, nil
}

func (s *Store) Endpoint() string            { return s.srv.Addr() }
func (s *Store) AccessKey() string           { return AccessKey }
func (s *Store) SecretKey() string           { return SecretKey }
func (s *Store) Bucket() string              { return s.bucket }
func (s *Store) Faults() env.HTTPFaults      { return s.layer }
func (s *Store) Stop(context.Context) error  { return s.srv.Stop() }
func (s *Store) Start(context.Context) error { return s.srv.Start() }

func (s *Store) close() error {
	return errors.Join(s.srv.Close())
}
