package httpfault_test

import (
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
)

func TestServerStopRefusesAndStartReusesThePort(t *testing.T) {
	_, _, s, c := serve(t)
	addr := s.Addr()
	code, _, err := do(t.Context(), c, http.MethodGet, s.URL(), "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)

	require.NoError(t, s.Stop())
	require.NoError(t, s.Stop(), "Stop is idempotent")
	_, _, err = do(t.Context(), c, http.MethodGet, s.URL(), "")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)

	require.NoError(t, s.Start())
	require.NoError(t, s.Start(), "Start is idempotent")
	assert.Equal(t, addr, s.Addr())
	code, _, err = do(t.Context(), c, http.MethodGet, s.URL(), "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
}

func TestServerStopFailsRequestsInFlight(t *testing.T) {
	l, _, s, c := serve(t)
	l.Inject(httpfault.Fault{Hang: true})
	errc := make(chan error, 1)
	go func() {
		_, _, err := do(t.Context(), c, http.MethodPost, s.URL(), "x")
		errc <- err
	}()
	eventually(t, "the request to hang", func() bool { return l.Stats().Faulted == 1 })
	require.NoError(t, s.Stop())
	require.Error(t, <-errc)
}

func TestServerCloseIsFinal(t *testing.T) {
	s, err := httpfault.Serve(http.NotFoundHandler(), "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.Error(t, s.Start())
}

func TestServeRejectsNonLoopback(t *testing.T) {
	_, err := httpfault.Serve(http.NotFoundHandler(), "0.0.0.0:0")
	require.Error(t, err)
}
