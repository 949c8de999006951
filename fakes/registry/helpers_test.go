package registry_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/pipechaos/pipechaos/fakes/registry"
)

// start runs a registry for one test and returns it with a franz-go client
// on a private transport; both are closed at cleanup.
func start(t *testing.T, opts ...registry.Opt) (*registry.Registry, *sr.Client) {
	t.Helper()
	reg, err := registry.New(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, reg.Close()) })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cl, err := sr.NewClient(sr.URLs(reg.URL()), sr.HTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	return reg, cl
}

// responseError asserts err is a registry answer with the given HTTP status
// and Confluent error code.
func responseError(t *testing.T, err error, status, code int) *sr.ResponseError {
	t.Helper()
	var re *sr.ResponseError
	require.True(t, errors.As(err, &re), "want a registry error answer, got %v", err)
	require.Equal(t, status, re.StatusCode, "status; message %q", re.Message)
	require.Equal(t, code, re.ErrorCode, "error code; message %q", re.Message)
	require.NotEmpty(t, re.Message)
	return re
}

func avroSchema(s string) sr.Schema { return sr.Schema{Schema: s, Type: sr.TypeAvro} }
