package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/datasets/backendtest"
	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	"github.com/granaryhq/granary/proto/gen/datasets/v1/datasetsv1connect"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/server"
	"github.com/granaryhq/granary/service"
	"github.com/granaryhq/granary/store/sqlite"
)

// fixture is a server with one dataset "suite.readings" and a collection
// "main" holding Readings 0..4.
type fixture struct {
	srv    *backendtest.Server
	client *datasets.Client
	ds     *datasets.Dataset
	col    *datasets.Collection
	ids    []uuid.UUID
}

func setup(t *testing.T, opts ...server.Option) *fixture {
	t.Helper()
	srv := backendtest.StartServer(t, opts...)
	c := srv.Client(t)
	ds := backendtest.Readings(t, c)
	col, err := c.Collections.Create(context.Background(), ds.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Datapoints.Ingest(context.Background(), col.ID, backendtest.ReadingRange(ds, 0, 5), false)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, client: c, ds: ds, col: col, ids: r.DatapointIDs}
}

func (f *fixture) count(t *testing.T) uint64 {
	t.Helper()
	info, err := f.client.Collections.Get(context.Background(), f.ds.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	return info.Count
}

func pb(id uuid.UUID) *tileboxv1.ID { return &tileboxv1.ID{Uuid: id[:]} }

// post sends a raw unary Connect call.
func post(t *testing.T, url, key, contentType string, body []byte, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Connect-Protocol-Version", "1")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A transport of its own: the default one adds Accept-Encoding and
	// decompresses transparently, which would hide the wire shape.
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func errorBody(t *testing.T, resp *http.Response) connectError {
	t.Helper()
	var e connectError
	if err := json.Unmarshal(readBody(t, resp), &e); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return e
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestConnectWire shows the Connect protocol with binary protobuf on the
// wire: the shape the Tilebox Go client uses.
func TestConnectWire(t *testing.T) {
	f := setup(t)
	list, _ := proto.Marshal(&datasetsv1.ListDatasetsRequest{ClientInfo: &datasetsv1.ClientInfo{Name: "Go"}})
	for _, prefix := range []string{"", "/public"} {
		url := f.srv.URL + prefix + datasetsv1connect.DatasetServiceListDatasetsProcedure
		resp := post(t, url, f.srv.Key, "application/proto", list, map[string]string{"Accept-Encoding": "gzip"})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/proto" || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: %d %v", url, resp.StatusCode, resp.Header)
		}
		var out datasetsv1.ListDatasetsResponse
		if err := proto.Unmarshal(readBody(t, resp), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.GetDatasets()) != 1 || out.GetDatasets()[0].GetSlug() != "suite.readings" || out.GetDatasets()[0].GetType().GetTypeUrl() == "" {
			t.Fatalf("ListDatasets: %v", &out)
		}
	}
	// Without Accept-Encoding, no gzip.
	url := f.srv.URL + datasetsv1connect.DatasetServiceListDatasetsProcedure
	if resp := post(t, url, f.srv.Key, "application/proto", list, nil); resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("identity: %d %v", resp.StatusCode, resp.Header)
	}
	// A gzip'd request body is accepted.
	resp := post(t, url, f.srv.Key, "application/proto", gz(list), map[string]string{"Content-Encoding": "gzip"})
	if resp.StatusCode != 200 {
		t.Fatalf("gzip'd request: %d %s", resp.StatusCode, readBody(t, resp))
	}
	// JSON works too.
	resp = post(t, f.srv.URL+datasetsv1connect.DatasetServiceGetDatasetProcedure, f.srv.Key, "application/json", []byte(`{"slug":"suite.readings"}`), nil)
	if b := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(string(b), `"codeName":"readings"`) {
		t.Fatalf("JSON: %d %s", resp.StatusCode, b)
	}
	// Errors: Connect JSON error bodies with 4xx statuses.
	get, _ := proto.Marshal(&datasetsv1.GetDatasetRequest{Slug: "suite.no_such"})
	resp = post(t, f.srv.URL+datasetsv1connect.DatasetServiceGetDatasetProcedure, f.srv.Key, "application/proto", get, nil)
	if e := errorBody(t, resp); resp.StatusCode != 404 || e.Code != "not_found" || !strings.Contains(e.Message, "no such dataset") ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("not found: %d %+v", resp.StatusCode, e)
	}
}

// TestQueryPageShape shows next_page on the wire with the generated
// connect client: present with the last id and the limit while more
// follow, absent on the last page.
func TestQueryPageShape(t *testing.T) {
	f := setup(t)
	auth := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+f.srv.Key)
			return next(ctx, req)
		}
	}))
	client := datasetsv1connect.NewDataAccessServiceClient(http.DefaultClient, f.srv.URL, auth)
	limit := int64(2)
	req := &datasetsv1.QueryRequest{DatasetId: pb(f.ds.ID), Filters: &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{
		StartTime: timestamppb.New(backendtest.Base), EndTime: timestamppb.New(backendtest.Base.Add(time.Hour))}},
		Page: &tileboxv1.Pagination{Limit: &limit}}
	var got []uuid.UUID
	for pages := 1; ; pages++ {
		resp, err := client.Query(context.Background(), connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header().Get("Content-Type"); ct != "application/proto" {
			t.Fatalf("content type %q", ct)
		}
		page := resp.Msg
		if page.GetData().GetTypeUrl() != f.ds.Type.GetTypeUrl() {
			t.Fatalf("type_url %q", page.GetData().GetTypeUrl())
		}
		for _, v := range page.GetData().GetValue() {
			m := f.ds.NewMessage()
			if err := proto.Unmarshal(v, m); err != nil {
				t.Fatal(err)
			}
			id, _ := datasets.IDOf(m)
			got = append(got, id)
		}
		next := page.GetNextPage()
		if pages < 3 {
			if next == nil || next.GetLimit() != 2 || !bytes.Equal(next.GetStartingAfter().GetUuid(), got[len(got)-1][:]) {
				t.Fatalf("page %d: next_page %v", pages, next)
			}
		} else {
			if next != nil || len(page.GetData().GetValue()) != 1 {
				t.Fatalf("last page: next_page %v, %d values", next, len(page.GetData().GetValue()))
			}
			break
		}
		req.Page = next
	}
	if !slices.Equal(got, f.ids) {
		t.Fatalf("paged ids %v, want %v", got, f.ids)
	}
	// gRPC-Web with the same handlers.
	web := datasetsv1connect.NewDataAccessServiceClient(http.DefaultClient, f.srv.URL, auth, connect.WithGRPCWeb())
	resp, err := web.QueryByID(context.Background(), connect.NewRequest(&datasetsv1.QueryByIDRequest{DatasetId: pb(f.ds.ID), Id: pb(f.ids[1])}))
	if err != nil || resp.Msg.GetTypeUrl() != f.ds.Type.GetTypeUrl() {
		t.Fatalf("gRPC-Web QueryByID: %v", err)
	}
}

// TestDeterministicFailuresAre4xx sends bad requests of every service:
// none may get a 5xx, which clients would retry.
func TestDeterministicFailuresAre4xx(t *testing.T) {
	f := setup(t)
	bad16 := []byte{1, 2, 3}
	enc := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	for _, tc := range []struct {
		name, procedure string
		body            []byte
		code            string
	}{
		{"malformed body", datasetsv1connect.DataIngestionServiceIngestProcedure, []byte{0xff, 0xff, 0xff, 0xff}, "invalid_argument"},
		{"wrong message", datasetsv1connect.DataIngestionServiceIngestProcedure, []byte{0x0a, 0x02, 0x08, 0x01}, "invalid_argument"},
		{"no collection", datasetsv1connect.DataIngestionServiceIngestProcedure, enc(&datasetsv1.IngestRequest{Values: [][]byte{{1}}}), "invalid_argument"},
		{"short collection id", datasetsv1connect.DataIngestionServiceIngestProcedure, enc(&datasetsv1.IngestRequest{CollectionId: &tileboxv1.ID{Uuid: bad16}}), "invalid_argument"},
		{"unknown collection", datasetsv1connect.DataIngestionServiceIngestProcedure, enc(&datasetsv1.IngestRequest{CollectionId: pb(uuid.New()), Values: [][]byte{{1}}}), "not_found"},
		{"too many values", datasetsv1connect.DataIngestionServiceIngestProcedure, enc(&datasetsv1.IngestRequest{CollectionId: pb(f.col.ID), Values: make([][]byte, 8193)}), "invalid_argument"},
		{"garbage datapoint", datasetsv1connect.DataIngestionServiceIngestProcedure, enc(&datasetsv1.IngestRequest{CollectionId: pb(f.col.ID), Values: [][]byte{{0xff}}}), "invalid_argument"},
		{"existing", datasetsv1connect.DataIngestionServiceIngestProcedure, enc(&datasetsv1.IngestRequest{CollectionId: pb(f.col.ID), Values: func() [][]byte {
			b, _ := proto.Marshal(backendtest.Reading(f.ds, 0, 0))
			return [][]byte{b}
		}()}), "already_exists"},
		{"delete missing", datasetsv1connect.DataIngestionServiceDeleteProcedure, enc(&datasetsv1.DeleteRequest{CollectionId: pb(f.col.ID), DatapointIds: []*tileboxv1.ID{pb(uuid.New())}}), "not_found"},
		{"query without filters", datasetsv1connect.DataAccessServiceQueryProcedure, enc(&datasetsv1.QueryRequest{DatasetId: pb(f.ds.ID)}), "invalid_argument"},
		{"query limit 0", datasetsv1connect.DataAccessServiceQueryProcedure, enc(&datasetsv1.QueryRequest{DatasetId: pb(f.ds.ID),
			Filters: &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: timestamppb.Now(), EndTime: timestamppb.Now()}},
			Page:    &tileboxv1.Pagination{Limit: new(int64)}}), "invalid_argument"},
		{"query by bad id", datasetsv1connect.DataAccessServiceQueryByIDProcedure, enc(&datasetsv1.QueryByIDRequest{DatasetId: pb(f.ds.ID), Id: &tileboxv1.ID{Uuid: bad16}}), "invalid_argument"},
		{"bad slug", datasetsv1connect.DatasetServiceGetDatasetProcedure, enc(&datasetsv1.GetDatasetRequest{Slug: "no spaces"}), "invalid_argument"},
		{"create without type", datasetsv1connect.DatasetServiceCreateDatasetProcedure, enc(&datasetsv1.CreateDatasetRequest{Name: "x", CodeName: "x"}), "invalid_argument"},
		{"duplicate collection", datasetsv1connect.CollectionServiceCreateCollectionProcedure, enc(&datasetsv1.CreateCollectionRequest{DatasetId: pb(f.ds.ID), Name: "main"}), "already_exists"},
		{"list collections of nothing", datasetsv1connect.CollectionServiceListCollectionsProcedure, enc(&datasetsv1.ListCollectionsRequest{DatasetId: pb(uuid.New())}), "not_found"},
	} {
		resp := post(t, f.srv.URL+tc.procedure, f.srv.Key, "application/proto", tc.body, nil)
		e := errorBody(t, resp)
		if resp.StatusCode >= 500 || e.Code != tc.code {
			t.Errorf("%s: HTTP %d %+v, want %s", tc.name, resp.StatusCode, e, tc.code)
		}
	}
	if n := f.count(t); n != 5 {
		t.Fatalf("failed calls changed the count to %d", n)
	}
	// Not an RPC content type: 415, still no 5xx.
	resp := post(t, f.srv.URL+datasetsv1connect.DatasetServiceListDatasetsProcedure, f.srv.Key, "text/plain", []byte("hi"), nil)
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", resp.StatusCode)
	}
}

// recordCalls is an interceptor that counts the calls reaching the service.
type recordCalls struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordCalls) interceptor() connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			r.mu.Lock()
			r.calls = append(r.calls, req.Spec().Procedure+" "+req.Header().Get("Grpc-Encoding"))
			r.mu.Unlock()
			return next(ctx, req)
		}
	})
}

func (r *recordCalls) n() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func TestAuth(t *testing.T) {
	rec := &recordCalls{}
	f := setup(t, server.WithInterceptors(rec.interceptor()))
	before := rec.n()
	ctx := context.Background()
	value, _ := proto.Marshal(backendtest.Reading(f.ds, 100, 1))
	for name, opts := range map[string][]datasets.ClientOption{
		"missing": {datasets.WithAPIKey("")},
		"wrong":   {datasets.WithAPIKey("wrong-" + f.srv.Key)},
		"prefix":  {datasets.WithAPIKey(f.srv.Key[:10])},
	} {
		c := f.srv.Client(t, opts...)
		_, err := c.Datapoints.IngestEncoded(ctx, f.col.ID, [][]byte{value}, true)
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s key: ingest got %v, want unauthenticated", name, err)
		}
		_, err = c.Collections.Create(ctx, f.ds.ID, "sneaky")
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s key: create got %v", name, err)
		}
		if _, err := c.Datasets.List(ctx); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s key: list got %v", name, err)
		}
	}
	if rec.n() != before {
		t.Fatalf("rejected calls reached the service: %v", rec.calls[before:])
	}
	if n := f.count(t); n != 5 {
		t.Fatalf("count %d after rejected ingests", n)
	}
	if _, err := f.client.Collections.Get(ctx, f.ds.ID, "sneaky"); !datasets.IsNotFound(err) {
		t.Fatalf("rejected create made a collection: %v", err)
	}
	// The raw shape: 401, Connect JSON, WWW-Authenticate; the same under /public.
	for _, prefix := range []string{"", "/public"} {
		resp := post(t, f.srv.URL+prefix+datasetsv1connect.DatasetServiceListDatasetsProcedure, "", "application/proto", nil, nil)
		if e := errorBody(t, resp); resp.StatusCode != 401 || e.Code != "unauthenticated" || !strings.Contains(e.Message, "Bearer") ||
			resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without key: %d %+v", prefix, resp.StatusCode, e)
		}
	}
	// The scheme is case-insensitive.
	resp := post(t, f.srv.URL+datasetsv1connect.DatasetServiceListDatasetsProcedure, "", "application/proto", nil,
		map[string]string{"Authorization": "bearer " + f.srv.Key})
	if resp.StatusCode != 200 {
		t.Errorf("lower-case bearer: %d", resp.StatusCode)
	}
	resp = post(t, f.srv.URL+datasetsv1connect.DatasetServiceListDatasetsProcedure, "", "application/proto", nil,
		map[string]string{"Authorization": "Basic " + f.srv.Key})
	if resp.StatusCode != 401 {
		t.Errorf("Basic auth: %d", resp.StatusCode)
	}
}

func TestHashedKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(path, []byte("# hashes only\n"+server.HashKey("team-a-key")+"\n"+server.HashKey("team-b-key")+"\n"), 0o600)
	keys, err := server.ReadKeysFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := backendtest.StartServer(t, server.WithKeys(keys))
	for _, key := range []string{"team-a-key", "team-b-key", srv.Key} {
		if _, err := srv.Client(t, datasets.WithAPIKey(key)).Datasets.List(context.Background()); err != nil {
			t.Errorf("key %s: %v", key, err)
		}
	}
	if _, err := srv.Client(t, datasets.WithAPIKey(server.HashKey("team-a-key"))).Datasets.List(context.Background()); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("the hash as key: %v", err)
	}
}

func TestOversizedRequest(t *testing.T) {
	f := setup(t, server.WithMaxRequestBytes(64<<10))
	ctx := context.Background()
	var values [][]byte
	for i := range 1000 { // ~ 100 KB
		m := backendtest.Reading(f.ds, 1000+i, int64(i))
		m.ProtoReflect().Set(m.ProtoReflect().Descriptor().Fields().ByName("sensor"), protoreflect.ValueOfString(strings.Repeat("x", 80)))
		b, _ := proto.Marshal(m)
		values = append(values, b)
	}
	_, err := f.client.Datapoints.IngestEncoded(ctx, f.col.ID, values, true)
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "larger than configured max") {
		t.Fatalf("oversized ingest: %v", err)
	}
	// Compressed small, large once decompressed: refused too.
	gzClient := f.srv.Client(t, datasets.WithHTTPClient(&http.Client{Transport: sendGzip{}}))
	_, err = gzClient.Datapoints.IngestEncoded(ctx, f.col.ID, values, true)
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("oversized gzip'd ingest: %v", err)
	}
	if n := f.count(t); n != 5 {
		t.Fatalf("count %d after oversized calls", n)
	}
	// Under the limit is fine, gzip'd or not.
	if r, err := gzClient.Datapoints.IngestEncoded(ctx, f.col.ID, values[:300], true); err != nil || r.NumCreated != 300 {
		t.Fatalf("gzip'd ingest under the limit: %v", err)
	}
}

// sendGzip compresses request bodies, as grpcio does over TLS.
type sendGzip struct{}

func (sendGzip) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	z := gz(b)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(z)), int64(len(z))
	r.Header.Set("Content-Encoding", "gzip")
	return http.DefaultTransport.RoundTrip(r)
}

func TestNoAuth(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := server.New(service.New(st), server.WithNoAuth(), server.WithLogger(slog.New(slog.DiscardHandler)))
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.10:0", "example.com:0", "10.0.0.1:8080"} {
		ln, err := srv.Listen(addr)
		if !errors.Is(err, server.ErrNotLoopback) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("--no-auth on %s: %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "127.0.0.2:0"} {
		ln, err := srv.Listen(addr)
		if err != nil {
			t.Errorf("--no-auth on %s: %v", addr, err)
			continue
		}
		ln.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c, err := datasets.NewClient(datasets.WithURL("http://"+ln.Addr().String()), datasets.WithAPIKey(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Datasets.List(ctx); err != nil {
		t.Fatalf("no-auth call: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Without keys and without --no-auth there is nothing to serve.
	locked := server.New(service.New(st))
	if _, err := locked.Listen("127.0.0.1:0"); !errors.Is(err, server.ErrNoKeys) {
		t.Fatalf("no keys: %v", err)
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := locked.Serve(context.Background(), ln); !errors.Is(err, server.ErrNoKeys) {
		t.Fatalf("Serve without keys: %v", err)
	}
}

// TestConcurrentIngest has four clients ingest overlapping datapoints at
// once: every datapoint is stored exactly once.
func TestConcurrentIngest(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const clients, span, step, batch = 4, 1200, 400, 150 // client k: [k*step, k*step+span)
	var wg sync.WaitGroup
	created := make([]int64, clients)
	errs := make(chan error, clients)
	for k := range clients {
		c := f.srv.Client(t, datasets.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
		points := backendtest.ReadingRange(f.ds, 100+k*step, 100+k*step+span)
		if k%2 == 1 {
			slices.Reverse(points)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := 0; lo < len(points); lo += batch {
				r, err := c.Datapoints.Ingest(ctx, f.col.ID, points[lo:min(lo+batch, len(points))], true)
				if err != nil {
					errs <- err
					return
				}
				created[k] += r.NumCreated
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	union := (clients-1)*step + span
	var total int64
	for _, n := range created {
		total += n
	}
	if total != int64(union) {
		t.Fatalf("created %d in all, want %d", total, union)
	}
	if n := f.count(t); n != uint64(union+5) {
		t.Fatalf("count %d, want %d", n, union+5)
	}
	seen := map[uuid.UUID]bool{}
	n := 0
	for b, err := range f.client.Datapoints.Query(ctx, f.ds.ID, datasets.WithTemporalExtent(
		datasets.NewTimeInterval(backendtest.Base, backendtest.Base.Add(1000*time.Hour))), datasets.WithSkipData()) {
		if err != nil {
			t.Fatal(err)
		}
		m := f.ds.NewMessage()
		proto.Unmarshal(b, m)
		id, _ := datasets.IDOf(m)
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
		n++
	}
	if n != union+5 {
		t.Fatalf("query found %d, want %d", n, union+5)
	}
}

// TestGracefulShutdown cancels Serve while a call is running: the call
// completes, Serve returns after it, and new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	block := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if req.Spec().Procedure == datasetsv1connect.DataIngestionServiceIngestProcedure {
				once.Do(func() { close(started) })
				<-release
			}
			return next(ctx, req)
		}
	})
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := server.New(service.New(st, service.WithLogger(slog.New(slog.DiscardHandler))), server.WithNoAuth(),
		server.WithInterceptors(block), server.WithLogger(slog.New(slog.DiscardHandler)))
	ln, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	c, _ := datasets.NewClient(datasets.WithURL(url), datasets.WithAPIKey(""))
	ds := backendtest.Readings(t, c)
	col, err := c.Collections.Create(ctx, ds.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	ingested := make(chan error, 1)
	go func() {
		r, err := c.Datapoints.Ingest(context.Background(), col.ID, backendtest.ReadingRange(ds, 0, 50), false)
		if err == nil && r.NumCreated != 50 {
			err = errors.New("not all created")
		}
		ingested <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("ingest did not start")
	}
	cancel()
	// Serve keeps waiting for the call in flight; new connections are refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned with a call in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-ingested; err != nil {
		t.Fatalf("in-flight ingest: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	// The datapoints are in the store.
	direct, _ := datasets.NewClient(datasets.WithStore(st))
	info, err := direct.Collections.Get(context.Background(), ds.ID, "main")
	if err != nil || info.Count != 50 {
		t.Fatalf("after shutdown: %v %v", info, err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	block := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			<-release
			return next(ctx, req)
		}
	})
	st, _ := sqlite.Open(filepath.Join(t.TempDir(), "g.db"))
	defer st.Close()
	s := server.New(service.New(st), server.WithNoAuth(), server.WithInterceptors(block),
		server.WithShutdownTimeout(200*time.Millisecond), server.WithLogger(slog.New(slog.DiscardHandler)))
	ln, _ := s.Listen("127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c, _ := datasets.NewClient(datasets.WithURL("http://"+ln.Addr().String()), datasets.WithAPIKey(""))
	go c.Datasets.List(context.Background())
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cut off") {
			t.Fatalf("Serve: %v, want a shutdown timeout error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve hangs past its shutdown timeout")
	}
}

func TestHealth(t *testing.T) {
	f := setup(t)
	resp, err := http.Get(f.srv.URL + server.HealthPath)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, b)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+server.HealthPath, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST healthz: %d", resp.StatusCode)
	}
}

func TestLogLines(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	f := setup(t, server.WithLogger(log))
	ctx := context.Background()
	f.client.Datasets.Get(ctx, "suite.no_such")
	f.srv.Client(t, datasets.WithAPIKey("bad")).Datasets.List(ctx)
	type line struct {
		Msg       string  `json:"msg"`
		Procedure string  `json:"procedure"`
		Protocol  string  `json:"protocol"`
		Code      string  `json:"code"`
		Duration  float64 `json:"duration"`
		Error     string  `json:"error"`
	}
	var lines []line
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ln line
		if err := json.Unmarshal([]byte(l), &ln); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, ln)
	}
	// setup: CreateDataset, CreateCollection, Ingest; then the two calls above.
	if len(lines) != 5 {
		t.Fatalf("%d log lines, want 5:\n%s", len(lines), buf.String())
	}
	if l := lines[2]; l.Msg != "rpc" || l.Procedure != datasetsv1connect.DataIngestionServiceIngestProcedure || l.Code != "ok" || l.Protocol != "connect" || l.Duration <= 0 {
		t.Errorf("ingest line: %+v", l)
	}
	if l := lines[3]; l.Procedure != datasetsv1connect.DatasetServiceGetDatasetProcedure || l.Code != "not_found" || !strings.Contains(l.Error, "no such dataset") {
		t.Errorf("not found line: %+v", l)
	}
	if l := lines[4]; l.Procedure != datasetsv1connect.DatasetServiceListDatasetsProcedure || l.Code != "unauthenticated" {
		t.Errorf("unauthenticated line: %+v", l)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMaxPageSize(t *testing.T) {
	f := setup(t, server.WithMaxPageSize(2))
	client := datasetsv1connect.NewDataAccessServiceClient(http.DefaultClient, f.srv.URL)
	for _, page := range []*tileboxv1.Pagination{nil, {}, {Limit: proto.Int64(100)}, {Limit: proto.Int64(1)}} {
		req := connect.NewRequest(&datasetsv1.QueryRequest{DatasetId: pb(f.ds.ID), Page: page, Filters: &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{
			StartTime: timestamppb.New(backendtest.Base), EndTime: timestamppb.New(backendtest.Base.Add(time.Hour))}}})
		want := 2
		if page.GetLimit() == 1 {
			want = 1
		}
		req.Header().Set("Authorization", "Bearer "+f.srv.Key)
		resp, err := client.Query(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.Msg.GetData().GetValue()); n != want || resp.Msg.GetNextPage().GetLimit() != int64(want) {
			t.Fatalf("page %v: %d values, next_page %v", page, n, resp.Msg.GetNextPage())
		}
	}
	// The client follows the capped pages to the end.
	n := 0
	for _, err := range f.client.Datapoints.Query(context.Background(), f.ds.ID,
		datasets.WithTemporalExtent(datasets.NewTimeInterval(backendtest.Base, backendtest.Base.Add(time.Hour))), datasets.WithPageSize(1000)) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 5 {
		t.Fatalf("%d datapoints through capped pages", n)
	}
}

// TestH2CAndTLS: the remote client over HTTP/2 without TLS, and over TLS.
func TestH2CAndTLS(t *testing.T) {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	h2cTransport := &http.Transport{Protocols: &protocols}
	h2c := &recordProto{rt: h2cTransport}
	f := setup(t)
	// Idle HTTP/2 connections hold a graceful shutdown up to a second.
	t.Cleanup(h2cTransport.CloseIdleConnections)
	c := f.srv.Client(t, datasets.WithHTTPClient(&http.Client{Transport: h2c}))
	if _, err := c.Datasets.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h2c.proto != "HTTP/2.0" {
		t.Fatalf("h2c: %s", h2c.proto)
	}

	certFile, keyFile, pool := selfSigned(t)
	tlsSrv := backendtest.StartServer(t, server.WithTLS(certFile, keyFile))
	tlsTransport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tlsTransport.CloseIdleConnections)
	rec := &recordProto{rt: tlsTransport}
	url := strings.Replace(tlsSrv.URL, "http://", "https://", 1)
	tc, err := datasets.NewClient(datasets.WithURL(url), datasets.WithAPIKey(tlsSrv.Key), datasets.WithHTTPClient(&http.Client{Transport: rec}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Datasets.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec.proto != "HTTP/2.0" {
		t.Fatalf("TLS: %s", rec.proto)
	}
	// Plain HTTP to the TLS port fails.
	plain, _ := datasets.NewClient(datasets.WithURL(tlsSrv.URL), datasets.WithAPIKey(tlsSrv.Key))
	if _, err := plain.Datasets.List(context.Background()); err == nil {
		t.Fatal("plain HTTP to the TLS port worked")
	}
}

type recordProto struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	proto string
}

func (r *recordProto) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.proto = resp.Proto
		r.mu.Unlock()
	}
	return resp, err
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "granary test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestBadTLSFiles(t *testing.T) {
	st, _ := sqlite.Open(filepath.Join(t.TempDir(), "g.db"))
	defer st.Close()
	s := server.New(service.New(st), server.WithNoAuth(), server.WithTLS("missing.pem", "missing.key"))
	ln, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Fatalf("Serve with missing cert: %v", err)
	}
}
