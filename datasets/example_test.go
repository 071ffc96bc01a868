package datasets_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/schema"
)

// setTime sets a Timestamp field of a dynamic datapoint.
func setTime(m *dynamicpb.Message, name string, t time.Time) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	ts := m.NewField(fd).Message()
	ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(t.Unix()))
	ts.Set(ts.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(int32(t.Nanosecond())))
	m.Set(fd, protoreflect.ValueOfMessage(ts))
}

func Example() {
	dir, _ := os.MkdirTemp("", "granary-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	client, err := datasets.NewClient(datasets.WithStorePath(filepath.Join(dir, "granary.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	s, err := schema.New("my_org", "measurements", "Measurements", schema.Temporal,
		[]schema.Field{{Name: "value", Type: schema.Float64}, {Name: "sensor", Type: schema.String}})
	if err != nil {
		log.Fatal(err)
	}
	ds, err := client.Datasets.Create(ctx, s)
	if err != nil {
		log.Fatal(err)
	}
	col, err := client.Collections.GetOrCreate(ctx, ds.ID, "2024")
	if err != nil {
		log.Fatal(err)
	}

	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var points []proto.Message
	for i := range 3 {
		m := ds.NewMessage()
		setTime(m, "time", start.Add(time.Duration(i)*time.Hour))
		m.Set(m.Descriptor().Fields().ByName("value"), protoreflect.ValueOfFloat64(20+float64(i)/2))
		m.Set(m.Descriptor().Fields().ByName("sensor"), protoreflect.ValueOfString("alpha"))
		points = append(points, m)
	}
	resp, err := client.Datapoints.Ingest(ctx, col.ID, points, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", resp.NumCreated)

	// The same datapoints again: nothing new, their IDs come from their content.
	again, _ := client.Datapoints.Ingest(ctx, col.ID, points, true)
	fmt.Println("existing", again.NumExisting, "same ids", again.DatapointIDs[0] == resp.DatapointIDs[0])

	var got []*dynamicpb.Message
	err = client.Datapoints.QueryInto(ctx, ds, &got,
		datasets.WithTemporalExtent(datasets.NewTimeInterval(start, start.Add(2*time.Hour))))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range got {
		fmt.Println(m.Get(m.Descriptor().Fields().ByName("value")).Float())
	}

	n, err := client.Datapoints.DeleteIDs(ctx, col.ID, resp.DatapointIDs[:1])
	if err != nil {
		log.Fatal(err)
	}
	info, _ := client.Collections.Get(ctx, ds.ID, "2024")
	fmt.Println("deleted", n, "left", info.Count)
	// Output:
	// created 3
	// existing 3 same ids true
	// 20
	// 20.5
	// deleted 1 left 2
}

func ExampleDatapointClient_Query() {
	dir, _ := os.MkdirTemp("", "granary-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	client, _ := datasets.NewClient(datasets.WithStorePath(filepath.Join(dir, "granary.db")))
	defer client.Close()

	s, _ := schema.New("", "events", "Events", schema.Temporal, []schema.Field{{Name: "kind", Type: schema.String}})
	ds, _ := client.Datasets.Create(ctx, s)
	col, _ := client.Collections.Create(ctx, ds.ID, "all")
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var points []proto.Message
	for i := range 5 {
		m := ds.NewMessage()
		setTime(m, "time", t0.Add(time.Duration(i)*time.Minute))
		points = append(points, m)
	}
	client.Datapoints.Ingest(ctx, col.ID, points, false)

	// Stream encoded datapoints, two per underlying call, only metadata.
	n := 0
	for b, err := range client.Datapoints.Query(ctx, ds.ID,
		datasets.WithTemporalExtent(datasets.NewTimeInterval(t0, t0.Add(time.Hour))),
		datasets.WithCollections(col.ID), datasets.WithSkipData(), datasets.WithPageSize(2)) {
		if err != nil {
			log.Fatal(err)
		}
		m := ds.NewMessage()
		if err := proto.Unmarshal(b, m); err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "datapoints")
	// Output: 5 datapoints
}
