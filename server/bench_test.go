package server_test

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/datasets/backendtest"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store/sqlite"
)

// benchRows datapoints like MODIS granules (~200 bytes each encoded).
const benchRows = 65536

func granules() *schema.Dataset {
	s, err := schema.New("bench", "granules", "Granules", schema.SpatioTemporal, []schema.Field{
		{Name: "granule_name", Type: schema.String},
		{Name: "end_time", Type: schema.Timestamp},
		{Name: "cloud_cover", Type: schema.Float64},
		{Name: "tile", Type: schema.Int64, Array: true},
		{Name: "processing_time", Type: schema.Duration},
		{Name: "product_id", Type: schema.UUID},
	})
	if err != nil {
		panic(err)
	}
	return s
}

func setMsg(m *dynamicpb.Message, name string, set func(protoreflect.Message)) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	v := m.NewField(fd)
	set(v.Message())
	m.Set(fd, v)
}

// encodeGranules makes n encoded datapoints of ds, 5 minutes apart.
func encodeGranules(b *testing.B, ds *datasets.Dataset, n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		m := ds.NewMessage()
		tm := t0.Add(time.Duration(i) * 5 * time.Minute)
		ts := func(t time.Time) func(protoreflect.Message) {
			return func(x protoreflect.Message) {
				x.Set(x.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(t.Unix()))
			}
		}
		setMsg(m, "time", ts(tm))
		setMsg(m, "end_time", ts(tm.Add(5*time.Minute)))
		lon, lat := r.Float64()*350-175, r.Float64()*160-80
		setMsg(m, "geometry", func(x protoreflect.Message) {
			x.Set(x.Descriptor().Fields().ByName("wkb"), protoreflect.ValueOfBytes(squareWKB(lon, lat)))
		})
		m.Set(m.Descriptor().Fields().ByName("granule_name"), protoreflect.ValueOfString("MOD09.A2024001."+tm.Format("1504")+".061"))
		m.Set(m.Descriptor().Fields().ByName("cloud_cover"), protoreflect.ValueOfFloat64(r.Float64()*100))
		tiles := m.Mutable(m.Descriptor().Fields().ByName("tile")).List()
		tiles.Append(protoreflect.ValueOfInt64(int64(r.IntN(36))))
		tiles.Append(protoreflect.ValueOfInt64(int64(r.IntN(18))))
		setMsg(m, "processing_time", func(x protoreflect.Message) {
			x.Set(x.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(int64(200+r.IntN(100))))
		})
		setMsg(m, "product_id", func(x protoreflect.Message) {
			id := make([]byte, 16)
			for j := range id {
				id[j] = byte(r.Uint32())
			}
			x.Set(x.Descriptor().Fields().ByName("uuid"), protoreflect.ValueOfBytes(id))
		})
		bts, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = bts
	}
	return out
}

func squareWKB(lon, lat float64) []byte {
	var w []byte
	w = append(w, 1, 3, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0)
	for _, p := range [][2]float64{{lon, lat}, {lon + 2, lat}, {lon + 2, lat + 2}, {lon, lat + 2}, {lon, lat}} {
		for _, f := range p {
			w = appendF64(w, f)
		}
	}
	return w
}

func appendF64(b []byte, f float64) []byte {
	u := math.Float64bits(f)
	for i := range 8 {
		b = append(b, byte(u>>(8*i)))
	}
	return b
}

// backend makes a client of a fresh backend and a way to stop it.
type backend struct {
	name string
	make func(b *testing.B) *datasets.Client
}

func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// identity asks for uncompressed responses.
type identity struct{ rt http.RoundTripper }

func (i identity) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del("Accept-Encoding")
	return i.rt.RoundTrip(r)
}

var backends = []backend{
	{"embedded", func(b *testing.B) *datasets.Client {
		st, err := sqlite.Open(filepath.Join(b.TempDir(), "granary.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		c, _ := datasets.NewClient(datasets.WithStore(st))
		return c
	}},
	{"loopback_http1", func(b *testing.B) *datasets.Client {
		return backendtest.StartServer(b).Client(b)
	}},
	{"loopback_http1_nogzip", func(b *testing.B) *datasets.Client {
		return backendtest.StartServer(b).Client(b, datasets.WithHTTPClient(&http.Client{Transport: identity{http.DefaultTransport}}))
	}},
	{"loopback_h2c", func(b *testing.B) *datasets.Client {
		hc := h2cClient()
		b.Cleanup(hc.CloseIdleConnections)
		return backendtest.StartServer(b).Client(b, datasets.WithHTTPClient(hc))
	}},
}

// BenchmarkIngest stores benchRows pre-encoded datapoints in calls of 8192,
// directly into the embedded store and over loopback; compare ns/datapoint.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			var values [][]byte
			for b.Loop() {
				b.StopTimer()
				c := be.make(b)
				ds, err := c.Datasets.Create(ctx, granules())
				if err != nil {
					b.Fatal(err)
				}
				col, err := c.Collections.Create(ctx, ds.ID, "modis")
				if err != nil {
					b.Fatal(err)
				}
				if values == nil {
					values = encodeGranules(b, ds, benchRows)
				}
				b.StartTimer()
				r, err := c.Datapoints.IngestEncoded(ctx, col.ID, values, false)
				if err != nil || r.NumCreated != benchRows {
					b.Fatal(err)
				}
			}
			size := 0
			for _, v := range values {
				size += len(v)
			}
			b.SetBytes(int64(size))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/datapoint")
		})
	}
}

// BenchmarkQuery reads all benchRows datapoints page by page (default page
// size), with and without data.
func BenchmarkQuery(b *testing.B) {
	ctx := context.Background()
	for _, be := range backends {
		c := be.make(b)
		ds, err := c.Datasets.Create(ctx, granules())
		if err != nil {
			b.Fatal(err)
		}
		col, _ := c.Collections.Create(ctx, ds.ID, "modis")
		if _, err := c.Datapoints.IngestEncoded(ctx, col.ID, encodeGranules(b, ds, benchRows), false); err != nil {
			b.Fatal(err)
		}
		ext := datasets.WithTemporalExtent(datasets.NewTimeInterval(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)))
		for _, skip := range []bool{false, true} {
			name := be.name + "/data"
			opts := []datasets.QueryOption{ext}
			if skip {
				name = be.name + "/skip_data"
				opts = append(opts, datasets.WithSkipData())
			}
			b.Run(name, func(b *testing.B) {
				size := 0
				for b.Loop() {
					n := 0
					size = 0
					for v, err := range c.Datapoints.Query(ctx, ds.ID, opts...) {
						if err != nil {
							b.Fatal(err)
						}
						n++
						size += len(v)
					}
					if n != benchRows {
						b.Fatalf("%d datapoints", n)
					}
				}
				b.SetBytes(int64(size))
				b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "datapoints/s")
			})
		}
	}
}
