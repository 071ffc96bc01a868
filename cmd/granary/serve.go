package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/server"
	"github.com/granaryhq/granary/service"
)

func (a *app) serveCommand() *cobra.Command {
	var (
		addr, keysFile, certFile, keyFile string
		noAuth                            bool
		maxRequestBytes, maxPageSize      int64
		shutdownTimeout                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve [--addr HOST:PORT] (--api-keys-file FILE | --no-auth)",
		Short: "Serve the store over the network (the Tilebox-compatible datasets API)",
		Long: `Serve the store over the network: the datasets API (DatasetService,
CollectionService, DataAccessService, DataIngestionService) that granary's
remote client (--store http://HOST:PORT) and Tilebox clients speak. Connect,
gRPC and gRPC-Web share one port, over HTTP/1.1 and HTTP/2 without TLS (h2c),
or TLS with --tls-cert and --tls-key; gzip both ways. The API is also mounted
under /public/. GET /healthz and grpc.health.v1.Health need no key.

Every call needs "Authorization: Bearer KEY". Keys come from --api-keys-file
and from $GRANARY_API_KEYS (comma-separated). The keys file holds one entry
per line: a key, or "sha256:" and the hex SHA-256 of a key, so that the file
need not hold keys in plaintext:

  echo "sha256:$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)" >> keys.txt

Empty lines and lines starting with # are skipped. Keys are kept hashed in
memory. --no-auth serves without keys, for local development, and only on a
loopback address.

The listening address is printed to stderr; Ctrl-C or SIGTERM stops
accepting calls and lets the ones in flight finish (up to --shutdown-timeout).`,
		Example: `  granary serve --api-keys-file keys.txt
  GRANARY_API_KEYS=secret1,secret2 granary serve --addr 0.0.0.0:8080 --store /data/granary.db
  granary serve --no-auth --addr 127.0.0.1:0
  granary serve --addr :8443 --tls-cert cert.pem --tls-key key.pem --api-keys-file keys.txt`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (certFile == "") != (keyFile == "") {
				return usagef("TLS needs both --tls-cert and --tls-key")
			}
			if maxRequestBytes < 1024 {
				return usagef("--max-request-bytes %d: want at least 1024", maxRequestBytes)
			}
			if maxPageSize < 1 {
				return usagef("--max-page-size %d: want at least 1", maxPageSize)
			}
			opts := []server.Option{
				server.WithLogger(a.log),
				server.WithMaxRequestBytes(maxRequestBytes),
				server.WithMaxPageSize(maxPageSize),
				server.WithShutdownTimeout(shutdownTimeout),
			}
			if certFile != "" {
				opts = append(opts, server.WithTLS(certFile, keyFile))
			}
			if noAuth && keysFile != "" {
				return usagef("--no-auth and --api-keys-file exclude each other")
			}
			keys, err := a.serveKeys(keysFile)
			if err != nil {
				return err
			}
			switch {
			case noAuth:
				opts = append(opts, server.WithNoAuth())
			case keys.Len() == 0:
				return usageError{server.ErrNoKeys}
			default:
				opts = append(opts, server.WithKeys(keys))
			}

			path := a.storePath
			if path == "" {
				path = os.Getenv(datasets.StoreEnv)
			}
			if path == "" {
				path = datasets.DefaultStorePath
			}
			if datasets.IsURL(path) {
				return usagef("serve needs a store file, not the server %s", path)
			}
			st, err := datasets.OpenStore(cmd.Context(), path)
			if err != nil {
				return fmt.Errorf("open store %s: %w", datasets.StoreName(path), err)
			}
			defer st.Close()
			srv := server.New(service.New(st, service.WithLogger(a.log)), opts...)
			ln, err := srv.Listen(addr)
			if errors.Is(err, server.ErrNotLoopback) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			scheme := "http"
			if srv.TLS() {
				scheme = "https"
			}
			auth := fmt.Sprintf("%d API key(s)", keys.Len())
			if noAuth {
				auth = "no auth"
			}
			fmt.Fprintf(a.stderr, "granary: listening on %s://%s (store %s, %s)\n", scheme, ln.Addr(), datasets.StoreName(path), auth)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			if err := srv.Serve(ctx, ln); err != nil {
				return err
			}
			fmt.Fprintln(a.stderr, "granary: stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on, HOST:PORT (port 0 picks a free one)")
	f.StringVar(&keysFile, "api-keys-file", "", "file of accepted API keys, one per line, plaintext or sha256:HEX")
	f.BoolVar(&noAuth, "no-auth", false, "accept calls without a key (loopback addresses only)")
	f.StringVar(&certFile, "tls-cert", "", "PEM certificate file: serve TLS")
	f.StringVar(&keyFile, "tls-key", "", "PEM private key file of --tls-cert")
	f.Int64Var(&maxRequestBytes, "max-request-bytes", server.DefaultMaxRequestBytes, "largest accepted request message, after decompression")
	f.Int64Var(&maxPageSize, "max-page-size", server.DefaultMaxPageSize, "most datapoints per query page")
	f.DurationVar(&shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "how long to wait for calls in flight when stopping")
	return cmd
}

// serveKeys reads the keys of --api-keys-file and $GRANARY_API_KEYS.
func (a *app) serveKeys(file string) (*server.Keys, error) {
	keys := &server.Keys{}
	if file != "" {
		k, err := server.ReadKeysFile(file)
		if err != nil {
			return nil, fmt.Errorf("--api-keys-file: %w", err)
		}
		if fi, err := os.Stat(file); err == nil && k.Plaintext() > 0 && fi.Mode().Perm()&0o077 != 0 {
			a.log.Warn("the API keys file holds plaintext keys and others may read it; store sha256: hashes or chmod 600",
				"file", file, "mode", fi.Mode().Perm().String())
		}
		keys.Merge(k)
	}
	if env := os.Getenv(server.KeysEnv); env != "" {
		k, err := server.ParseKeyList(env)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", server.KeysEnv, err)
		}
		keys.Merge(k)
	}
	return keys, nil
}
