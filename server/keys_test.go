package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/server"
)

func TestParseKeys(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-key"))
	file := "# team keys\n\n  plain-key  \n" + "sha256:" + hex.EncodeToString(sum[:]) + "\n" + server.HashKey("other-hashed") + "\nplain-key\n"
	k, err := server.ParseKeys("keys", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 3 || k.Plaintext() != 2 {
		t.Fatalf("Len %d Plaintext %d", k.Len(), k.Plaintext())
	}
	for key, want := range map[string]bool{
		"plain-key": true, "hashed-key": true, "other-hashed": true,
		"": false, "plain-key ": false, "Plain-key": false, "plain": false, "# team keys": false,
		"sha256:" + hex.EncodeToString(sum[:]): false, // the hash itself is not a key
	} {
		if got := k.Valid(key); got != want {
			t.Errorf("Valid(%q) = %v, want %v", key, got, want)
		}
	}
	for name, bad := range map[string]string{
		"space in key": "a b\n",
		"short hash":   "sha256:abcd\n",
		"not hex":      "sha256:" + strings.Repeat("z", 64) + "\n",
	} {
		if _, err := server.ParseKeys("keys", strings.NewReader("ok\n"+bad)); err == nil || !strings.Contains(err.Error(), "keys:2") {
			t.Errorf("%s: error %v, want one naming keys:2", name, err)
		}
	}
	if server.HashKey("x") != "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" {
		t.Errorf("HashKey: %s", server.HashKey("x"))
	}
	var nilKeys *server.Keys
	if nilKeys.Valid("x") || nilKeys.Len() != 0 {
		t.Error("nil Keys accepts")
	}
}

func TestParseKeyListAndFile(t *testing.T) {
	k, err := server.ParseKeyList(" a, ,b," + server.HashKey("c"))
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 3 || !k.Valid("a") || !k.Valid("b") || !k.Valid("c") || k.Valid("") {
		t.Fatalf("key list: %d", k.Len())
	}
	path := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(path, []byte(server.HashKey("from-file")+"\n"), 0o600)
	f, err := server.ReadKeysFile(path)
	if err != nil || !f.Valid("from-file") || f.Plaintext() != 0 {
		t.Fatalf("ReadKeysFile: %v", err)
	}
	k.Merge(f)
	if k.Len() != 4 || !k.Valid("from-file") {
		t.Fatal("Merge")
	}
	if _, err := server.ReadKeysFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file: no error")
	}
}
