package batch

import (
	"context"
	"fmt"
	"iter"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/schema"
)

// Querier runs datapoint queries: datasets.DatapointClient is one.
type Querier interface {
	Query(ctx context.Context, datasetID uuid.UUID, opts ...datasets.QueryOption) iter.Seq2[[]byte, error]
}

// clusterGap splits a call's IDs into separately queried ID ranges where
// their times are further apart than this, so that a call of scattered
// times does not read everything between them.
const clusterGap = 60 * 60 * 1000 // ms

// QueryExists counts stored IDs by querying the collection's ID ranges
// that the IDs span with skip_data (IDs start with their time, so a
// time-ordered call is one narrow range) and comparing the IDs.
func QueryExists(q Querier, datasetID, collectionID uuid.UUID) ExistsFunc {
	return func(ctx context.Context, ids []uuid.UUID) (int, error) {
		found := 0
		for lo := 0; lo < len(ids); {
			hi := lo + 1
			for hi < len(ids) && convert.Millis(ids[hi])-convert.Millis(ids[hi-1]) <= clusterGap {
				hi++
			}
			want := ids[lo:hi]
			iv := datasets.IDInterval{StartID: want[0], EndID: want[len(want)-1]}
			j := 0
			for b, err := range q.Query(ctx, datasetID, datasets.WithTemporalExtent(iv), datasets.WithCollections(collectionID),
				datasets.WithSkipData(), datasets.WithPageSize(50_000)) {
				if err != nil {
					return found, err
				}
				id, ok := IDOf(b)
				if !ok {
					return found, fmt.Errorf("query: a datapoint without id")
				}
				for j < len(want) && cmpUUID(want[j], id) < 0 {
					j++
				}
				if j < len(want) && want[j] == id {
					found++
					j++
				}
			}
			lo = hi
		}
		return found, nil
	}
}

// IDOf reads the id field of encoded datapoint bytes as the API returns
// them (time, id and ingestion_time first).
func IDOf(b []byte) (uuid.UUID, bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return uuid.Nil, false
		}
		b = b[n:]
		if num == schema.NumberID && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return uuid.Nil, false
			}
			for len(v) > 0 {
				inum, ityp, k := protowire.ConsumeTag(v)
				if k < 0 {
					return uuid.Nil, false
				}
				v = v[k:]
				if inum == 1 && ityp == protowire.BytesType {
					raw, k := protowire.ConsumeBytes(v)
					if k < 0 || len(raw) != 16 {
						return uuid.Nil, false
					}
					return uuid.UUID(raw), true
				}
				if k = protowire.ConsumeFieldValue(inum, ityp, v); k < 0 {
					return uuid.Nil, false
				}
				v = v[k:]
			}
			return uuid.Nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return uuid.Nil, false
		}
		b = b[m:]
	}
	return uuid.Nil, false
}
