package server_test

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/granaryhq/granary/datasets/backendtest"
	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	"github.com/granaryhq/granary/proto/gen/datasets/v1/datasetsv1connect"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/server"
)

// grpcConn is a plain grpc-go client over h2c that gzips its requests:
// the wire shape of the Tilebox Python client (grpcio).
func grpcConn(t *testing.T, url string, opts ...grpc.CallOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(url, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(append([]grpc.CallOption{grpc.UseCompressor(gzip.Name)}, opts...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

func TestGRPCWire(t *testing.T) {
	rec := &recordCalls{}
	f := setup(t, server.WithInterceptors(rec.interceptor()))
	conn := grpcConn(t, f.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	authed := withKey(ctx, f.srv.Key)

	var header metadata.MD
	var list datasetsv1.ListDatasetsResponse
	before := rec.n()
	err := conn.Invoke(authed, datasetsv1connect.DatasetServiceListDatasetsProcedure, &datasetsv1.ListDatasetsRequest{}, &list, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetDatasets()) != 1 || list.GetDatasets()[0].GetSlug() != "suite.readings" {
		t.Fatalf("ListDatasets: %v", &list)
	}
	if ct := header.Get("content-type"); len(ct) != 1 || !strings.HasPrefix(ct[0], "application/grpc") {
		t.Fatalf("content-type %v", ct)
	}
	if got := rec.calls[before]; got != datasetsv1connect.DatasetServiceListDatasetsProcedure+" gzip" {
		t.Fatalf("the request was not gzip'd: %q", got)
	}

	// Errors come back as gRPC status codes with their messages.
	var ds datasetsv1.Dataset
	err = conn.Invoke(authed, datasetsv1connect.DatasetServiceGetDatasetProcedure, &datasetsv1.GetDatasetRequest{Slug: "suite.no_such"}, &ds)
	if st := status.Convert(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), "no such dataset") {
		t.Fatalf("not found: %v", err)
	}
	err = conn.Invoke(authed, datasetsv1connect.DataAccessServiceQueryProcedure, &datasetsv1.QueryRequest{DatasetId: pb(f.ds.ID)}, &datasetsv1.QueryResultPage{})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("query without filters: %v", err)
	}

	// Ingest and page through a query.
	var values [][]byte
	for _, m := range backendtest.ReadingRange(f.ds, 10, 17) {
		b, _ := proto.Marshal(m)
		values = append(values, b)
	}
	var ing datasetsv1.IngestResponse
	err = conn.Invoke(authed, datasetsv1connect.DataIngestionServiceIngestProcedure,
		&datasetsv1.IngestRequest{CollectionId: pb(f.col.ID), Values: values, AllowExisting: true}, &ing)
	if err != nil || ing.GetNumCreated() != 7 || len(ing.GetDatapointIds()) != 7 {
		t.Fatalf("ingest: %v %v", err, &ing)
	}
	limit := int64(5)
	req := &datasetsv1.QueryRequest{DatasetId: pb(f.ds.ID), CollectionIds: []*tileboxv1.ID{pb(f.col.ID)}, SkipData: true,
		Filters: &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{
			StartTime: timestamppb.New(backendtest.Base), EndTime: timestamppb.New(backendtest.Base.Add(time.Hour))}},
		Page: &tileboxv1.Pagination{Limit: &limit}}
	var sizes []int
	for range 10 {
		var page datasetsv1.QueryResultPage
		if err := conn.Invoke(authed, datasetsv1connect.DataAccessServiceQueryProcedure, req, &page); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.GetData().GetValue()))
		if page.GetNextPage() == nil {
			break
		}
		req.Page = page.GetNextPage()
	}
	if len(sizes) != 3 || sizes[0] != 5 || sizes[1] != 5 || sizes[2] != 2 {
		t.Fatalf("page sizes %v, want [5 5 2]", sizes)
	}
	var one datasetsv1.Any
	err = conn.Invoke(authed, datasetsv1connect.DataAccessServiceQueryByIDProcedure, &datasetsv1.QueryByIDRequest{DatasetId: pb(f.ds.ID), Id: ing.GetDatapointIds()[0]}, &one)
	if err != nil || one.GetTypeUrl() != f.ds.Type.GetTypeUrl() || !bytes.Contains(one.GetValue(), ing.GetDatapointIds()[0].GetUuid()) {
		t.Fatalf("QueryByID: %v", err)
	}

	// Without a key, or a wrong one: Unauthenticated and nothing executed.
	before = rec.n()
	for _, c := range []context.Context{ctx, withKey(ctx, "nope")} {
		err = conn.Invoke(c, datasetsv1connect.DataIngestionServiceIngestProcedure,
			&datasetsv1.IngestRequest{CollectionId: pb(f.col.ID), Values: values[:1], AllowExisting: true}, &ing)
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("without a valid key: %v", err)
		}
	}
	if rec.n() != before {
		t.Fatal("unauthenticated gRPC calls reached the service")
	}

	// Uncompressed gRPC works as well.
	plain := grpcConn(t, f.srv.URL, grpc.UseCompressor("identity"))
	if err := plain.Invoke(authed, datasetsv1connect.CollectionServiceGetCollectionByNameProcedure,
		&datasetsv1.GetCollectionByNameRequest{DatasetId: pb(f.ds.ID), CollectionName: "main", WithCount: true}, &datasetsv1.CollectionInfo{}); err != nil {
		t.Fatal(err)
	}
}

func TestGRPCHealthAndLimits(t *testing.T) {
	f := setup(t, server.WithMaxRequestBytes(16<<10))
	conn := grpcConn(t, f.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	health := grpc_health_v1.NewHealthClient(conn)
	for _, svc := range []string{"", datasetsv1connect.DataIngestionServiceName} {
		resp, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: svc}) // no key needed
		if err != nil || resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", svc, resp, err)
		}
	}
	if _, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "no.such.Service"}); status.Code(err) != codes.NotFound {
		t.Fatalf("health of an unknown service: %v", err)
	}
	// A request over the limit, even gzip'd small, is ResourceExhausted.
	values := make([][]byte, 4000) // ~ 64 KB, gzip'd far less
	b, _ := proto.Marshal(backendtest.Reading(f.ds, 100, 1))
	for i := range values {
		values[i] = b
	}
	err := conn.Invoke(withKey(ctx, f.srv.Key), datasetsv1connect.DataIngestionServiceIngestProcedure,
		&datasetsv1.IngestRequest{CollectionId: pb(f.col.ID), Values: values, AllowExisting: true}, &datasetsv1.IngestResponse{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized: %v", err)
	}
	if n := f.count(t); n != 5 {
		t.Fatalf("count %d", n)
	}
}

// TestGRPCRawH2C spells out one gRPC call over h2c byte by byte: a gzip'd
// request envelope in, a gzip'd response envelope and grpc-status trailer out.
func TestGRPCRawH2C(t *testing.T) {
	f := setup(t)
	msg, _ := proto.Marshal(&datasetsv1.GetDatasetRequest{Slug: "suite.readings"})
	z := gz(msg)
	body := append([]byte{1, 0, 0, 0, 0}, z...) // flag 1: compressed
	binary.BigEndian.PutUint32(body[1:5], uint32(len(z)))
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+datasetsv1connect.DatasetServiceGetDatasetProcedure, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Grpc-Encoding", "gzip")
	req.Header.Set("Grpc-Accept-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+f.srv.Key)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Proto != "HTTP/2.0" || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") ||
		resp.Header.Get("Grpc-Encoding") != "gzip" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("%s %d headers %v trailers %v", resp.Proto, resp.StatusCode, resp.Header, resp.Trailer)
	}
	if len(out) < 5 || out[0] != 1 || int(binary.BigEndian.Uint32(out[1:5])) != len(out)-5 {
		t.Fatalf("response envelope % x", out[:min(len(out), 5)])
	}
	zr, err := stdgzip.NewReader(bytes.NewReader(out[5:]))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	var ds datasetsv1.Dataset
	if err := proto.Unmarshal(plain, &ds); err != nil || ds.GetSlug() != "suite.readings" {
		t.Fatalf("response: %v %v", err, &ds)
	}
}
