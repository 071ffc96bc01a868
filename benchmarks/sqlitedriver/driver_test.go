// Package sqlitedriver_test compares the two SQLite drivers granary could use
// for its embedded store, github.com/mattn/go-sqlite3 (cgo) and
// modernc.org/sqlite (pure Go), and the datapoints table layouts, on the
// store's workload: bulk inserts of pre-encoded ~300-byte rows under 16-byte
// time-ordered IDs in 8192-row transactions, point lookups and range scans.
//
// Run (about a minute and a half):
//
//	go test -bench . -benchtime=1x -run '^$' ./benchmarks/sqlitedriver/
//
// Each benchmark op is a whole workload; compare the custom metrics
// (ns/row, ns/lookup), not ns/op across benchmarks.
//
// Results on the project's 2-vCPU machine (shared, so ±20%), 200k rows:
//
//	                           mattn (cgo)   modernc (pure Go)
//	insert, sorted IDs         4.0-4.4 µs    4.9-5.2 µs   per row
//	point lookup               9.5-12 µs     14-15 µs
//	range scan, 8192-row pages 1.1-1.5 µs    1.2-1.4 µs   per row
//	scan, 32-byte data prefix  1.1-1.3 µs    1.2-1.6 µs   per row
//
// Layouts with mattn, 1M rows (SQLITEDRIVER_ROWS=1000000), µs per row:
//
//	                         insert    insert       scan      scan after
//	                         sorted    shuffled(*)  (sorted)  shuffled insert
//	rowid, 8 KiB pages       6.0       14.2         2.1       3.0
//	WITHOUT ROWID, 8 KiB     5.4       34.7         1.6       1.9
//
// (*) IDs in random order across batches, each batch sorted. At 200k rows
// WITHOUT ROWID with 4 KiB pages took 20.6 µs per shuffled row against
// 15.5 µs with 8 KiB pages; sorting each batch saves ~15% when the input is
// shuffled (BenchmarkBatchSort).
package sqlitedriver_test

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	_ "modernc.org/sqlite"
)

// nRows is the number of rows each benchmark writes or reads; set
// SQLITEDRIVER_ROWS to try another size (e.g. 1000000, beyond the cache).
var nRows = func() int {
	if n, err := strconv.Atoi(os.Getenv("SQLITEDRIVER_ROWS")); err == nil && n > 0 {
		return n
	}
	return 200_000
}()

const (
	batchSize = 8192
	dataSize  = 300
	scanPage  = 8192 // rows per range-scan page, like a paginated query
	nLookups  = 20_000
	cacheKiB  = 65536 // the store's writer cache (64 MiB)
)

type driver struct {
	name string
	sql  string // database/sql driver name
	dsn  func(path string) string
}

var drivers = []driver{
	{"mattn", "sqlite3", func(p string) string {
		return "file:" + p + "?_busy_timeout=5000&_synchronous=NORMAL&_txlock=immediate"
	}},
	{"modernc", "sqlite", func(p string) string {
		return "file:" + p + "?_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	}},
}

type layout struct {
	withoutRowid bool
	pageSize     int
}

func (l layout) String() string {
	s := "rowid"
	if l.withoutRowid {
		s = "without_rowid"
	}
	return fmt.Sprintf("%s/page%d", s, l.pageSize)
}

type row struct {
	id   [16]byte
	data []byte
}

// rows are nRows datapoints one second apart, in ID (= time) order.
var rows = sync.OnceValue(func() []row {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]row, nRows)
	base := uint64(1_700_000_000_000)
	for i := range out {
		var id [16]byte
		binary.BigEndian.PutUint64(id[:8], (base+uint64(i)*1000)<<16)
		for j := 6; j < 16; j++ {
			id[j] = byte(r.Uint32())
		}
		d := make([]byte, dataSize)
		for j := range d {
			d[j] = byte(r.Uint32())
		}
		out[i] = row{id, d}
	}
	return out
})

var tmpDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "sqlitedriver")
	if err != nil {
		panic(err)
	}
	tmpDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var fileSeq int

func openDB(tb testing.TB, drv driver, l layout) (*sql.DB, string) {
	tb.Helper()
	fileSeq++
	path := filepath.Join(tmpDir, fmt.Sprintf("%s-%d.db", drv.name, fileSeq))
	db, err := sql.Open(drv.sql, drv.dsn(path))
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	without := ""
	if l.withoutRowid {
		without = " WITHOUT ROWID"
	}
	for _, q := range []string{
		fmt.Sprintf("PRAGMA page_size=%d", l.pageSize), // before the file gets its header
		"PRAGMA journal_mode=WAL",
		fmt.Sprintf("PRAGMA cache_size=-%d", cacheKiB),
		`CREATE TABLE datapoints (
			collection INTEGER NOT NULL,
			id BLOB NOT NULL,
			ingestion_time INTEGER NOT NULL,
			data BLOB NOT NULL,
			PRIMARY KEY (collection, id))` + without,
	} {
		if _, err := db.Exec(q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	return db, path
}

// insert writes rs in batchSize-row transactions with one prepared statement,
// sorting each batch by ID first when sortBatches is set.
func insert(tb testing.TB, db *sql.DB, rs []row, sortBatches bool) {
	stmt, err := db.Prepare(`INSERT INTO datapoints (collection, id, ingestion_time, data) VALUES (1, ?, ?, ?)
		ON CONFLICT (collection, id) DO NOTHING`)
	if err != nil {
		tb.Fatal(err)
	}
	defer stmt.Close()
	batch := make([]row, 0, batchSize)
	for start := 0; start < len(rs); start += batchSize {
		batch = append(batch[:0], rs[start:min(start+batchSize, len(rs))]...)
		if sortBatches {
			slices.SortFunc(batch, func(a, b row) int { return bytes.Compare(a.id[:], b.id[:]) })
		}
		tx, err := db.Begin()
		if err != nil {
			tb.Fatal(err)
		}
		st := tx.Stmt(stmt)
		for i := range batch {
			if _, err := st.Exec(batch[i].id[:], int64(1_700_000_000_000_000_000+i), batch[i].data); err != nil {
				tb.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
}

func shuffled() []row {
	rs := slices.Clone(rows())
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	return rs
}

func benchInsert(b *testing.B, drv driver, l layout, rs []row, sortBatches bool) {
	for b.Loop() {
		b.StopTimer()
		db, path := openDB(b, drv, l)
		b.StartTimer()
		insert(b, db, rs, sortBatches)
		b.StopTimer()
		db.Close()
		if fi, err := os.Stat(path); err == nil {
			b.ReportMetric(float64(fi.Size())/float64(len(rs)), "file-B/row")
		}
		os.Remove(path)
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/row")
}

// filled caches the databases filledWith builds.
var (
	filledMu sync.Mutex
	filledDB = map[string]*sql.DB{}
)

// filledWith returns a database holding all rows, built once per driver,
// layout and fill order: in ID order, or with shuffled IDs (each batch
// sorted) when shuf is set, so that a later scan shows how the layout
// copes with data that did not arrive in time order.
func filledWith(b *testing.B, drv driver, l layout, shuf bool) *sql.DB {
	filledMu.Lock()
	defer filledMu.Unlock()
	key := fmt.Sprintf("%s/%s/%v", drv.name, l, shuf)
	if db := filledDB[key]; db != nil {
		return db
	}
	db, _ := openDB(b, drv, l)
	if shuf {
		insert(b, db, shuffled(), true)
	} else {
		insert(b, db, rows(), true)
	}
	filledDB[key] = db
	return db
}

func benchLookup(b *testing.B, drv driver, l layout, shuf bool) {
	db := filledWith(b, drv, l, shuf)
	stmt, err := db.Prepare("SELECT ingestion_time, data FROM datapoints WHERE collection = 1 AND id = ?")
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	rs := rows()
	r := rand.New(rand.NewPCG(5, 6))
	b.ResetTimer()
	for b.Loop() {
		for range nLookups {
			var t int64
			var data []byte
			if err := stmt.QueryRow(rs[r.IntN(len(rs))].id[:]).Scan(&t, &data); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nLookups), "ns/lookup")
}

// benchScan reads every row in ID order, page by page, as a paginated query
// over the whole collection does. With skipData only a 32-byte prefix of
// each row's data is returned.
func benchScan(b *testing.B, drv driver, l layout, skipData, shuf bool) {
	db := filledWith(b, drv, l, shuf)
	col := "data"
	if skipData {
		col = "substr(data, 1, 32)"
	}
	stmt, err := db.Prepare("SELECT id, ingestion_time, " + col +
		" FROM datapoints WHERE collection = 1 AND id >= ? AND id <= ? ORDER BY id LIMIT ?")
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	b.ResetTimer()
	var n int
	for b.Loop() {
		from := make([]byte, 16)
		to := bytes.Repeat([]byte{0xff}, 16)
		for {
			rs, err := stmt.Query(from, to, scanPage)
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			var id, data []byte
			var t int64
			for rs.Next() {
				if err := rs.Scan(&id, &t, &data); err != nil {
					b.Fatal(err)
				}
				got++
			}
			if err := rs.Err(); err != nil {
				b.Fatal(err)
			}
			n += got
			if got < scanPage {
				break
			}
			// Next page starts after the last ID.
			from = nextID(id)
		}
	}
	if n != b.N*nRows {
		b.Fatalf("scanned %d rows, want %d", n, b.N*nRows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/row")
}

func nextID(id []byte) []byte {
	out := slices.Clone(id)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			break
		}
	}
	return out
}

// BenchmarkDriver compares the drivers on the store's chosen layout.
func BenchmarkDriver(b *testing.B) {
	l := layout{withoutRowid: true, pageSize: 8192}
	for _, drv := range drivers {
		b.Run(drv.name+"/insert_sorted", func(b *testing.B) { benchInsert(b, drv, l, rows(), true) })
		b.Run(drv.name+"/lookup", func(b *testing.B) { benchLookup(b, drv, l, false) })
		b.Run(drv.name+"/scan", func(b *testing.B) { benchScan(b, drv, l, false, false) })
		b.Run(drv.name+"/scan_skipdata", func(b *testing.B) { benchScan(b, drv, l, true, false) })
	}
}

// BenchmarkLayout compares rowid and WITHOUT ROWID datapoints tables and page
// sizes with the cgo driver, including inserts whose IDs arrive shuffled
// across batches (each batch still sorted, as the store does).
func BenchmarkLayout(b *testing.B) {
	drv := drivers[0]
	shuf := shuffled()
	for _, l := range []layout{
		{false, 4096}, {false, 8192},
		{true, 4096}, {true, 8192}, {true, 16384},
	} {
		b.Run(l.String()+"/insert_sorted", func(b *testing.B) { benchInsert(b, drv, l, rows(), true) })
		b.Run(l.String()+"/insert_shuffled_batchsorted", func(b *testing.B) { benchInsert(b, drv, l, shuf, true) })
		b.Run(l.String()+"/lookup", func(b *testing.B) { benchLookup(b, drv, l, false) })
		b.Run(l.String()+"/scan", func(b *testing.B) { benchScan(b, drv, l, false, false) })
		b.Run(l.String()+"/lookup_after_shuffled", func(b *testing.B) { benchLookup(b, drv, l, true) })
		b.Run(l.String()+"/scan_after_shuffled", func(b *testing.B) { benchScan(b, drv, l, false, true) })
	}
}

// BenchmarkBatchSort measures what sorting each batch by ID buys when the
// input arrives in random ID order.
func BenchmarkBatchSort(b *testing.B) {
	drv := drivers[0]
	l := layout{withoutRowid: true, pageSize: 8192}
	shuf := shuffled()
	b.Run("shuffled_unsorted", func(b *testing.B) { benchInsert(b, drv, l, shuf, false) })
	b.Run("shuffled_batchsorted", func(b *testing.B) { benchInsert(b, drv, l, shuf, true) })
}

// TestRTree checks that the drivers have the R*Tree module compiled in (the
// spatial prefilter needs it).
func TestRTree(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv.name, func(t *testing.T) {
			db, err := sql.Open(drv.sql, drv.dsn(filepath.Join(t.TempDir(), "r.db")))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var version string
			if err := db.QueryRow("SELECT sqlite_version()").Scan(&version); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx, miny, maxy)"); err != nil {
				t.Fatalf("sqlite %s: no R*Tree: %v", version, err)
			}
			if _, err := db.Exec("INSERT INTO boxes VALUES (1, 10, 11, 50, 51), (2, 20, 21, 60, 61)"); err != nil {
				t.Fatal(err)
			}
			var id int64
			if err := db.QueryRow("SELECT id FROM boxes WHERE maxx >= 10.5 AND minx <= 10.6 AND maxy >= 50.5 AND miny <= 50.6").Scan(&id); err != nil || id != 1 {
				t.Fatalf("rtree query: id %d, %v", id, err)
			}
			t.Logf("sqlite %s: rtree ok", version)
		})
	}
}
