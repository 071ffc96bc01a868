// Package server serves the datasets API over the network: DatasetService,
// CollectionService, DataAccessService and DataIngestionService with
// connect-go, so that Connect, gRPC and gRPC-Web clients (binary protobuf or
// JSON, gzip both ways) reach it on one port, over HTTP/1.1, HTTP/2 without
// TLS (h2c) or TLS. The same handlers are also mounted under /public/, the
// prefix Tilebox clients use for anonymous calls.
//
// Every call needs "Authorization: Bearer <key>" with a key of the server's
// Keys, unless the server runs WithNoAuth, which it only does on a loopback
// address. GET /healthz and grpc.health.v1.Health need no key.
package server

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	"github.com/granaryhq/granary/proto/gen/datasets/v1/datasetsv1connect"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/service"
)

// Defaults of the limits.
const (
	// DefaultMaxRequestBytes bounds one request message (after
	// decompression): 8192 datapoints of up to 8 KiB each.
	DefaultMaxRequestBytes = 64 << 20
	// DefaultMaxPageSize is the largest page a query may ask for.
	DefaultMaxPageSize = service.MaxPageSize
	// DefaultShutdownTimeout is how long Serve waits for in-flight calls.
	DefaultShutdownTimeout = 30 * time.Second
)

// PublicPrefix is the path prefix under which the API is mounted a second time.
const PublicPrefix = "/public"

// HealthPath answers GET with 200 while serving and 503 while shutting down.
const HealthPath = "/healthz"

// Errors of Listen and Serve.
var (
	// ErrNotLoopback: WithNoAuth on an address that is not loopback.
	ErrNotLoopback = errors.New("--no-auth only listens on a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)")
	// ErrNoKeys: neither API keys nor WithNoAuth.
	ErrNoKeys = errors.New("no API keys: give --api-keys-file or $" + KeysEnv + ", or --no-auth for local development")
)

// Server serves the datasets API of a service.Service.
type Server struct {
	svc             *service.Service
	log             *slog.Logger
	keys            *Keys
	noAuth          bool
	maxRequestBytes int64
	maxPageSize     int64
	certFile        string
	keyFile         string
	shutdownTimeout time.Duration
	interceptors    []connect.Interceptor

	handler  http.Handler
	errw     *connect.ErrorWriter
	health   *grpchealth.StaticChecker
	stopping atomic.Bool
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger for the per-call lines (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithKeys sets the accepted API keys; may be given more than once.
func WithKeys(k *Keys) Option {
	return func(s *Server) {
		if s.keys == nil {
			s.keys = &Keys{}
		}
		s.keys.Merge(k)
	}
}

// WithNoAuth serves without API keys. Listen and Serve then refuse any
// address that is not loopback.
func WithNoAuth() Option { return func(s *Server) { s.noAuth = true } }

// WithMaxRequestBytes bounds the size of one request message after
// decompression; larger calls fail with resource_exhausted. 0 keeps the default.
func WithMaxRequestBytes(n int64) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxRequestBytes = n
		}
	}
}

// WithMaxPageSize caps the number of datapoints in a query page: larger
// (or absent) page limits are lowered to it. 0 keeps the default.
func WithMaxPageSize(n int64) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxPageSize = n
		}
	}
}

// WithTLS serves TLS (HTTP/1.1 and HTTP/2) with a PEM certificate and key.
func WithTLS(certFile, keyFile string) Option {
	return func(s *Server) { s.certFile, s.keyFile = certFile, keyFile }
}

// WithShutdownTimeout bounds how long Serve waits for in-flight calls
// once its context is done; then the remaining connections are closed.
func WithShutdownTimeout(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.shutdownTimeout = d
		}
	}
}

// WithInterceptors adds connect interceptors, run after authentication,
// logging and the limits, in the order given.
func WithInterceptors(ics ...connect.Interceptor) Option {
	return func(s *Server) { s.interceptors = append(s.interceptors, ics...) }
}

// New returns a server of svc.
func New(svc *service.Service, opts ...Option) *Server {
	s := &Server{svc: svc, log: slog.Default(), maxRequestBytes: DefaultMaxRequestBytes,
		maxPageSize: DefaultMaxPageSize, shutdownTimeout: DefaultShutdownTimeout}
	for _, o := range opts {
		o(s)
	}
	if s.keys == nil {
		s.keys = &Keys{}
	}
	ics := append([]connect.Interceptor{logInterceptor(s.log), limitInterceptor(s.maxPageSize)}, s.interceptors...)
	hopts := []connect.HandlerOption{
		connect.WithInterceptors(ics...),
		connect.WithReadMaxBytes(int(min(s.maxRequestBytes, int64(^uint32(0)>>1)))),
		// Responses are gzip'd for clients that accept it, at the fastest
		// level: query pages are large, and CPU, not the network, is what
		// a server on the same host or LAN runs out of.
		connect.WithCompression("gzip",
			func() connect.Decompressor { return &gzip.Reader{} },
			func() connect.Compressor { w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); return w }),
	}
	s.errw = connect.NewErrorWriter(hopts...)

	mux := http.NewServeMux()
	handle := func(path string, h http.Handler) {
		authed := s.auth(h)
		mux.Handle(path, authed)
		mux.Handle(PublicPrefix+path, http.StripPrefix(PublicPrefix, authed))
	}
	handle(datasetsv1connect.NewDatasetServiceHandler(svc, hopts...))
	handle(datasetsv1connect.NewCollectionServiceHandler(svc, hopts...))
	handle(datasetsv1connect.NewDataAccessServiceHandler(svc, hopts...))
	handle(datasetsv1connect.NewDataIngestionServiceHandler(svc, hopts...))
	s.health = grpchealth.NewStaticChecker(
		datasetsv1connect.DatasetServiceName, datasetsv1connect.CollectionServiceName,
		datasetsv1connect.DataAccessServiceName, datasetsv1connect.DataIngestionServiceName)
	mux.Handle(grpchealth.NewHandler(s.health))
	mux.HandleFunc(HealthPath, s.healthz)
	s.handler = mux
	return s
}

// ServeHTTP serves the API, /healthz and grpc.health.v1.Health.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.stopping.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "shutting down")
		return
	}
	fmt.Fprintln(w, "ok")
}

// auth lets a call through only with a valid bearer key. It runs before the
// request body is read, so a rejected call executes nothing.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.noAuth {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearer(r.Header.Get("Authorization"))
		if ok && s.keys.Valid(key) {
			next.ServeHTTP(w, r)
			return
		}
		msg := "invalid API key"
		if !ok {
			msg = "missing API key: send the header Authorization: Bearer <key>"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="granary"`)
		_ = s.errw.Write(w, r, connect.NewError(connect.CodeUnauthenticated, errors.New(msg)))
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "rpc",
			slog.String("procedure", strings.TrimPrefix(r.URL.Path, PublicPrefix)),
			slog.String("code", connect.CodeUnauthenticated.String()),
			slog.Duration("duration", 0),
			slog.String("peer", r.RemoteAddr),
			slog.String("error", msg))
	})
}

// bearer extracts the key of an "Authorization: Bearer <key>" header.
func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	key := strings.TrimSpace(h[len(prefix):])
	return key, key != ""
}

// logInterceptor writes one line per call: procedure, protocol, code, duration.
func logInterceptor(log *slog.Logger) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			resp, err := next(ctx, req)
			code, level := "ok", slog.LevelInfo
			attrs := make([]slog.Attr, 0, 6)
			if err != nil {
				c := connect.CodeOf(err)
				code = c.String()
				switch c {
				case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss:
					level = slog.LevelError
				}
			}
			attrs = append(attrs,
				slog.String("procedure", req.Spec().Procedure),
				slog.String("protocol", req.Peer().Protocol),
				slog.String("code", code),
				slog.Duration("duration", time.Since(start)),
				slog.String("peer", req.Peer().Addr))
			if err != nil {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
			log.LogAttrs(ctx, level, "rpc", attrs...)
			return resp, err
		}
	})
}

// limitInterceptor lowers query page limits above maxPage to maxPage.
func limitInterceptor(maxPage int64) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if q, ok := req.Any().(*datasetsv1.QueryRequest); ok {
				page := q.GetPage()
				switch {
				case page == nil:
					if service.DefaultPageSize > maxPage {
						q.Page = &tileboxv1.Pagination{Limit: ptr(maxPage)}
					}
				case page.Limit == nil:
					if service.DefaultPageSize > maxPage {
						page.Limit = ptr(maxPage)
					}
				case page.GetLimit() > maxPage:
					page.Limit = ptr(maxPage)
				}
			}
			return next(ctx, req)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// Listen listens on a TCP address, after checking that a server without
// auth only listens on loopback.
func (s *Server) Listen(addr string) (net.Listener, error) {
	if s.noAuth {
		if err := checkLoopback(addr); err != nil {
			return nil, err
		}
	} else if s.keys.Len() == 0 {
		return nil, ErrNoKeys
	}
	return net.Listen("tcp", addr)
}

// checkLoopback accepts host:port with a loopback IP or "localhost".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(strings.SplitN(host, "%", 2)[0])
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w; %q is not", ErrNotLoopback, addr)
	}
	return nil
}

func isLoopbackAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// Serve serves on ln until ctx is done, then stops accepting calls, lets
// the calls in flight finish (at most the shutdown timeout) and returns.
// It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	switch {
	case s.noAuth && !isLoopbackAddr(ln.Addr()):
		ln.Close()
		return fmt.Errorf("%w; %s is not", ErrNotLoopback, ln.Addr())
	case !s.noAuth && s.keys.Len() == 0:
		ln.Close()
		return ErrNoKeys
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	protocols.SetHTTP2(true)
	srv := &http.Server{
		Handler:           s,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.certFile != "" || s.keyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s.stopping.Store(false)
	s.health.SetStatus("", grpchealth.StatusServing)
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	s.health.SetStatus("", grpchealth.StatusNotServing)
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("shutdown: calls still running after %s were cut off: %w", s.shutdownTimeout, err)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// ListenAndServe is Listen, then Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := s.Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// TLS reports whether the server serves TLS.
func (s *Server) TLS() bool { return s.certFile != "" || s.keyFile != "" }
