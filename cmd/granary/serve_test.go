package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/server"
)

// serveInBinary reports whether the built binary has the serve verb; until
// rootCommand adds it, the serve tests run the same command in-process.
var serveInBinary = sync.OnceValue(func() bool {
	out, _ := exec.Command(binary, "serve", "--help").CombinedOutput()
	return strings.Contains(string(out), "--api-keys-file")
})

// lockedBuffer collects output written from another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runServeInProcess runs granary with args like run does, with the serve
// verb added to the root if it lacks it.
func runServeInProcess(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, stdin: strings.NewReader("")}
	root := a.rootCommand()
	if c, _, err := root.Find([]string{"serve"}); err != nil || c == root {
		root.AddCommand(a.serveCommand())
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "granary: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

// served is a running `granary serve`.
type served struct {
	url    string
	stderr *lockedBuffer
	stop   func() int // interrupts the server and returns its exit code
}

var listening = regexp.MustCompile(`listening on (https?://\S+)`)

// startServe starts `granary serve args...` with env (KEY=VALUE) added and
// waits until it prints its address.
func startServe(t *testing.T, dir string, env []string, args ...string) *served {
	t.Helper()
	s := &served{stderr: &lockedBuffer{}}
	pr, pw := io.Pipe()
	args = append([]string{"serve"}, args...)
	var exited chan int
	if serveInBinary() {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "GRANARY_STORE=", server.KeysEnv+"="), env...)
		cmd.Stdout = io.Discard
		cmd.Stderr = pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited = make(chan int, 1)
		go func() {
			err := cmd.Wait()
			pw.Close()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			exited <- code
		}()
		s.stop = func() int {
			cmd.Process.Signal(os.Interrupt)
			select {
			case code := <-exited:
				return code
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Error("granary serve did not stop on an interrupt")
				return <-exited
			}
		}
		t.Cleanup(func() { cmd.Process.Kill() })
	} else {
		t.Setenv(server.KeysEnv, "")
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		ctx, cancel := context.WithCancel(context.Background())
		exited = make(chan int, 1)
		go func() {
			code := runServeInProcess(ctx, args, io.Discard, pw)
			pw.Close()
			exited <- code
		}()
		s.stop = func() int {
			cancel()
			select {
			case code := <-exited:
				return code
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not stop")
				return -1
			}
		}
		t.Cleanup(cancel)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			fmt.Fprintln(s.stderr, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case url, ok := <-found:
		if !ok {
			t.Fatalf("serve exited without listening:\n%s", s.stderr)
		}
		s.url = url
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not print its address:\n%s", s.stderr)
	}
	return s
}

// serveOnce runs `granary serve args...` that is expected to fail at once.
func serveOnce(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	args = append([]string{"serve"}, args...)
	if serveInBinary() {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "GRANARY_STORE=", server.KeysEnv+"="), env...)
		var out, errb lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		timer := time.AfterFunc(15*time.Second, func() { cmd.Process.Kill() })
		defer timer.Stop()
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{out.String(), errb.String(), code}
	}
	t.Setenv(server.KeysEnv, "")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out, errb lockedBuffer
	code := runServeInProcess(ctx, args, &out, &errb)
	return result{out.String(), errb.String(), code}
}

func remote(t *testing.T, url, key string) *datasets.Client {
	t.Helper()
	c, err := datasets.NewClient(datasets.WithURL(url), datasets.WithAPIKey(key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// measurement is a datapoint of my_org.measurements at hour h.
func measurement(ds *datasets.Dataset, h int, v float64) proto.Message {
	m := ds.NewMessage()
	fd := m.Descriptor().Fields().ByName("time")
	ts := m.NewField(fd).Message()
	ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC).Unix()))
	m.Set(fd, protoreflect.ValueOfMessage(ts))
	m.Set(m.Descriptor().Fields().ByName("value"), protoreflect.ValueOfFloat64(v))
	return m
}

// TestServe runs granary serve and uses it with the remote client: the data
// lands in the store file, every call is logged, Ctrl-C stops it cleanly.
func TestServe(t *testing.T) {
	dir := workdir(t)
	store := filepath.Join(dir, "served.db")
	s := startServe(t, dir, nil, "--no-auth", "--addr", "127.0.0.1:0", "--store", store)
	if !strings.HasPrefix(s.url, "http://127.0.0.1:") {
		t.Fatalf("address %q", s.url)
	}
	ctx := context.Background()
	c := remote(t, s.url, "")
	sch, err := schema.ReadFile(filepath.Join(dir, "measurements.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.Datasets.Create(ctx, sch)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Slug != "my_org.measurements" {
		t.Fatalf("slug %q: the schema's group did not reach the server", ds.Slug)
	}
	col, err := c.Collections.GetOrCreate(ctx, ds.ID, "c1")
	if err != nil {
		t.Fatal(err)
	}
	var points []proto.Message
	for h := range 24 {
		points = append(points, measurement(ds, h, float64(h)/2))
	}
	r, err := c.Datapoints.Ingest(ctx, col.ID, points, true)
	if err != nil || r.NumCreated != 24 {
		t.Fatalf("ingest: %v %v", r, err)
	}
	n := 0
	for _, err := range c.Datapoints.Query(ctx, ds.ID, datasets.WithTemporalExtent(datasets.NewTimeInterval(
		time.Date(2024, 1, 1, 6, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC))), datasets.WithPageSize(4)) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("query: %d rows, want 6", n)
	}
	if _, err := c.Datasets.Get(ctx, "my_org.nope"); !datasets.IsNotFound(err) {
		t.Fatalf("unknown dataset: %v", err)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, s.stderr)
	}
	log := s.stderr.String()
	for _, want := range []string{"procedure=/datasets.v1.DataIngestionService/Ingest", "code=ok", "code=not_found", "duration=", "granary: stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve's stderr lacks %q:\n%s", want, log)
		}
	}
	// The rows are in the store file.
	local, err := datasets.NewClient(datasets.WithStorePath(store))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	info, err := local.Collections.Get(ctx, ds.ID, "c1")
	if err != nil || info.Count != 24 {
		t.Fatalf("store after serve: %v %v", info, err)
	}
}

func TestServeAuth(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.txt")
	os.WriteFile(keys, []byte("# hashed, not plaintext\n"+server.HashKey("file-key")+"\n"), 0o600)
	s := startServe(t, dir, []string{server.KeysEnv + "=env-key-1,env-key-2"},
		"--addr", "127.0.0.1:0", "--api-keys-file", keys, "--store", filepath.Join(dir, "g.db"))
	ctx := context.Background()
	for _, key := range []string{"file-key", "env-key-1", "env-key-2"} {
		if _, err := remote(t, s.url, key).Datasets.List(ctx); err != nil {
			t.Errorf("key %s: %v", key, err)
		}
	}
	for _, key := range []string{"", "wrong", server.HashKey("file-key")} {
		if _, err := remote(t, s.url, key).Datasets.List(ctx); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("key %q: %v, want unauthenticated", key, err)
		}
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestServeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keys.txt"), []byte("k\n"), 0o600)
	store := filepath.Join(dir, "g.db")
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--no-auth", "--addr", "0.0.0.0:0", "--store", store}, nil, "loopback"},
		{[]string{"--no-auth", "--addr", ":0", "--store", store}, nil, "loopback"},
		{[]string{"--addr", "127.0.0.1:0", "--store", store}, nil, "no API keys"},
		{[]string{"--addr", "127.0.0.1:0", "--tls-cert", "c.pem", "--no-auth", "--store", store}, nil, "--tls-key"},
		{[]string{"--no-auth", "--api-keys-file", "keys.txt", "--store", store}, nil, "exclude"},
		{[]string{"--no-auth", "--addr", "127.0.0.1:0", "--store", "http://127.0.0.1:1"}, nil, "store file"},
		{[]string{"--no-auth", "--max-request-bytes", "10", "--store", store}, nil, "max-request-bytes"},
	} {
		r := serveOnce(t, dir, tc.env, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("serve %s: exit %d, stderr %q; want exit 2 mentioning %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	// A keys file that does not exist is an error, not a server without keys.
	r := serveOnce(t, dir, nil, "--api-keys-file", "missing.txt", "--addr", "127.0.0.1:0", "--store", store)
	if r.code != exitFailure || !strings.Contains(r.stderr, "missing.txt") {
		t.Errorf("missing keys file: exit %d %q", r.code, r.stderr)
	}
}

// TestServeCLIRemote drives the CLI verbs with --store http://... against
// granary serve, including four ingest processes at once over overlapping
// files.
func TestServeCLIRemote(t *testing.T) {
	dir := workdir(t)
	s := startServe(t, dir, []string{server.KeysEnv + "=cli-key"}, "--addr", "127.0.0.1:0", "--store", filepath.Join(dir, "served.db"))
	cli := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GRANARY_STORE="+s.url, datasets.APIKeyEnv+"=cli-key")
		var out, errb lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{out.String(), errb.String(), code}
	}
	r := cli("dataset", "create", "--schema", "measurements.yaml", "--store", s.url)
	if r.code != 0 {
		t.Fatalf("dataset create: %d %s", r.code, r.stderr)
	}
	if _, err := remote(t, s.url, "cli-key").Datasets.Get(context.Background(), "my_org.measurements"); err != nil {
		t.Fatalf("the dataset created through the server is not there: %v", err)
	}

	// Four ingest processes over overlapping files: rows k*50 .. k*50+100.
	var wg sync.WaitGroup
	results := make([]result, 4)
	for k := range 4 {
		var b strings.Builder
		b.WriteString("time,value,sensor\n")
		for i := k * 50; i < k*50+100; i++ {
			fmt.Fprintf(&b, "%s,%d,s%d\n", time.Date(2024, 2, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339), i, i%3)
		}
		name := fmt.Sprintf("part%d.csv", k)
		os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k] = cli("ingest", "--json", "--store", s.url, "--dataset", "my_org.measurements", "--collection", "parts", name)
		}()
	}
	wg.Wait()
	created := 0.0
	for k, r := range results {
		if r.code != 0 {
			t.Fatalf("ingest %d: exit %d %s", k, r.code, r.stderr)
		}
		created += jsonLines(t, r.stdout)[0]["created"].(float64)
	}
	if created != 250 {
		t.Fatalf("created %v rows in all, want 250", created)
	}
	info := jsonLines(t, mustCLI(t, cli, "collection", "info", "--json", "--dataset", "my_org.measurements", "parts"))
	if info[0]["count"] != 250.0 {
		t.Fatalf("collection info: %v", info)
	}
	rows := jsonLines(t, mustCLI(t, cli, "query", "--dataset", "my_org.measurements", "--time", "2024-02-01,2024-02-02"))
	ids := map[string]bool{}
	for _, row := range rows {
		ids[row["id"].(string)] = true
	}
	if len(rows) != 250 || len(ids) != 250 {
		t.Fatalf("query: %d rows, %d ids", len(rows), len(ids))
	}
	at := jsonLines(t, mustCLI(t, cli, "query", "--dataset", "my_org.measurements", "--at", "2024-02-01T00:10:00Z", "--skip-data"))
	if len(at) != 1 || at[0]["value"] != nil {
		t.Fatalf("--at --skip-data: %v", at)
	}
	out := mustCLI(t, cli, "delete", "--dataset", "my_org.measurements", "--collection", "parts", "--id", at[0]["id"].(string))
	if !strings.Contains(out, "deleted 1") {
		t.Fatalf("delete: %s", out)
	}
	// A wrong key is refused.
	bad := exec.Command(binary, "dataset", "list", "--store", s.url)
	bad.Dir, bad.Env = dir, append(os.Environ(), "GRANARY_STORE=", datasets.APIKeyEnv+"=wrong")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "unauthenticated") {
		t.Fatalf("wrong key: %v %s", err, out)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
}

func mustCLI(t *testing.T, cli func(...string) result, args ...string) string {
	t.Helper()
	r := cli(args...)
	if r.code != 0 {
		t.Fatalf("granary %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}
