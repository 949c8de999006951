package httpfault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// Server serves a handler on 127.0.0.1 and can be stopped and started again
// on the same port, which is how a "connection refused" outage of the
// registry or the store is done in process.
type Server struct {
	h    http.Handler
	addr string // host:port, fixed after the first listen

	mu      sync.Mutex
	srv     *http.Server
	cancel  context.CancelFunc // cancels the requests of srv
	serving sync.WaitGroup     // the Serve loop of srv
	closed  bool

	// live counts handler calls in flight. It is not a WaitGroup because a
	// connection accepted just before Stop may start a handler while Stop
	// waits, which a WaitGroup forbids.
	liveMu sync.Mutex
	live   int
	idle   *sync.Cond
}

// Serve starts serving h on addr, which must be on 127.0.0.1 (or "" for
// 127.0.0.1:0); port 0 picks a free port, kept across Stop and Start.
func Serve(h http.Handler, addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("parse listen address: %w", err)
	}
	if host != "127.0.0.1" {
		return nil, fmt.Errorf("listen address %q must be on 127.0.0.1", addr)
	}
	s := &Server{h: h, addr: addr}
	s.idle = sync.NewCond(&s.liveMu)
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is "http://" + Addr.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Start listens again on the same address. Starting a running server does
// nothing; starting a closed one is an error.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("start server: server is closed")
	}
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	s.addr = ln.Addr().String()
	// Requests derive their context from ctx, so Stop can cancel the ones
	// in flight: a handler holding a request whose body it has not read
	// would not otherwise notice its connection closing.
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:     http.HandlerFunc(s.serve),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	s.srv, s.cancel = srv, cancel
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = srv.Serve(ln) // returns http.ErrServerClosed on Stop
	}()
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.liveMu.Lock()
	s.live++
	s.liveMu.Unlock()
	defer func() {
		s.liveMu.Lock()
		s.live--
		if s.live == 0 {
			s.idle.Broadcast()
		}
		s.liveMu.Unlock()
	}()
	s.h.ServeHTTP(w, r)
}

// InFlight is the number of requests being handled right now.
func (s *Server) InFlight() int {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	return s.live
}

// Stop closes the listener and every live connection: new connections are
// refused and requests in flight fail. It waits for the handlers of those
// requests to return (their contexts are cancelled). Stopping a stopped
// server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.srv == nil {
		return nil
	}
	// Close the connections first, then cancel: a handler that returns on
	// cancellation must find its connection already gone, or it would
	// answer an empty 200.
	err := s.srv.Close()
	s.cancel()
	s.serving.Wait()
	s.liveMu.Lock()
	for s.live > 0 {
		s.idle.Wait()
	}
	s.liveMu.Unlock()
	s.srv = nil
	if err != nil {
		return fmt.Errorf("stop server: %w", err)
	}
	return nil
}

// Close stops the server for good. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.stopLocked()
}
