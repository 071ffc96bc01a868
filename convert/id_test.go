package convert

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// Golden vectors pin ID scheme v1 forever: if one of these changes, every
// stored datapoint would get a new ID. Never edit the expected values.
func TestIDGoldenVectors(t *testing.T) {
	cases := []struct {
		millis    int64
		canonical string // hex
		want      string
	}{
		// XXH3-128 of nothing is 99aa06d3014798d86001c324468d497f (the
		// reference implementation's value), so the tail is its first 10 bytes.
		{0, "", "00000000-0000-99aa-06d3-014798d86001"},
		// time 2024-01-01T00:00:00Z only.
		{1704067200000, "0a0608809fcaac06", "018cc251-f400-fd7d-e141-57dec3c75df9"},
		// time 2024-01-01T00:00:00.123456Z and field 4 double 21.5.
		{1704067200123, "0a0a08809fcaac0610c0b9d43a210000000000803540", "018cc251-f47b-6474-3079-bfd778157cb5"},
		{1709288100000, "0a0608a4e2849906", "018df982-90a0-893c-dd2d-41eff581634b"},
		// The largest time an ID can carry.
		{MaxMillis, "0a0808ffffffffffa0060f", "ffffffff-ffff-e447-e831-40ebe86ee4c8"},
	}
	for _, c := range cases {
		data, err := hex.DecodeString(c.canonical)
		if err != nil {
			t.Fatal(err)
		}
		id, err := ID(c.millis, data)
		if err != nil {
			t.Fatal(err)
		}
		if got := uuid.UUID(id).String(); got != c.want {
			t.Errorf("ID(%d, %s) = %s, want %s", c.millis, c.canonical, got, c.want)
		}
	}
}

func TestIDProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ids [][16]byte
	var times []int64
	for range 1000 {
		ms := rng.Int64N(MaxMillis)
		data := make([]byte, rng.IntN(64))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		id, err := ID(ms, data)
		if err != nil {
			t.Fatal(err)
		}
		if Millis(id) != ms {
			t.Fatalf("Millis(ID(%d)) = %d", ms, Millis(id))
		}
		again, _ := ID(ms, bytes.Clone(data))
		if again != id {
			t.Fatal("same input, different ID")
		}
		if len(data) > 0 {
			data[0] ^= 1
			other, _ := ID(ms, data)
			if other == id {
				t.Fatal("changing a byte did not change the ID")
			}
		}
		lo, hi := MinID(ms), MaxID(ms)
		if lo != [16]byte(append(id[:6:6], make([]byte, 10)...)) || bytes.Compare(lo[:], id[:]) > 0 || bytes.Compare(hi[:], id[:]) < 0 {
			t.Fatal("ID outside [MinID, MaxID] of its millisecond")
		}
		ids = append(ids, id)
		times = append(times, ms)
	}
	// Sorting IDs sorts by time.
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(ids[a][:], ids[b][:]) })
	for i := 1; i < len(order); i++ {
		if times[order[i-1]] > times[order[i]] {
			t.Fatal("ID order is not time order")
		}
	}
	for _, ms := range []int64{-1, MaxMillis + 1} {
		if _, err := ID(ms, nil); err == nil {
			t.Errorf("ID(%d) accepted", ms)
		}
	}
}
