package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// KeysEnv names the environment variable that holds API keys, separated by
// commas. Entries may be plaintext keys or sha256:<hex> hashes, as in a keys file.
const KeysEnv = "GRANARY_API_KEYS"

// hashPrefix marks a line of a keys file that holds a key's SHA-256 hash
// instead of the key itself.
const hashPrefix = "sha256:"

// Keys is a set of accepted API keys, kept only as SHA-256 hashes.
// The zero value and nil accept no key.
type Keys struct {
	hashes    [][sha256.Size]byte
	plaintext int
}

// NewKeys returns the set of the given plaintext keys.
func NewKeys(keys ...string) *Keys {
	k := &Keys{}
	for _, key := range keys {
		k.add(sha256.Sum256([]byte(key)))
		k.plaintext++
	}
	return k
}

// HashKey returns the line a keys file may hold instead of key itself:
// "sha256:" and the hex SHA-256 of the key. The same as
// `printf %s KEY | sha256sum` with the prefix added.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(h[:])
}

// ParseKeys reads a keys file: one entry per line, either an API key or
// sha256:<64 hex digits> (the hash of a key, see HashKey), so that the file
// need not hold keys in plaintext. Surrounding white space is ignored, and
// so are empty lines and lines starting with '#'. A key may not contain
// white space. name is used in error messages.
func ParseKeys(name string, r io.Reader) (*Keys, error) {
	k := &Keys{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if err := k.addEntry(s); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

// ReadKeysFile reads a keys file (see ParseKeys).
func ReadKeysFile(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseKeys(path, f)
}

// ParseKeyList reads comma-separated entries (keys or sha256:<hex> hashes),
// the format of $GRANARY_API_KEYS. Empty entries are ignored.
func ParseKeyList(list string) (*Keys, error) {
	k := &Keys{}
	for i, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if err := k.addEntry(s); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
	}
	return k, nil
}

func (k *Keys) addEntry(s string) error {
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return errors.New("an API key may not contain white space")
	}
	if hexHash, ok := strings.CutPrefix(s, hashPrefix); ok {
		b, err := hex.DecodeString(hexHash)
		if err != nil || len(b) != sha256.Size {
			return fmt.Errorf("%s... wants %d hex digits after %q", s[:min(len(s), len(hashPrefix)+8)], 2*sha256.Size, hashPrefix)
		}
		k.add([sha256.Size]byte(b))
		return nil
	}
	k.add(sha256.Sum256([]byte(s)))
	k.plaintext++
	return nil
}

func (k *Keys) add(h [sha256.Size]byte) {
	for _, have := range k.hashes {
		if have == h {
			return
		}
	}
	k.hashes = append(k.hashes, h)
}

// Merge adds the keys of other to k.
func (k *Keys) Merge(other *Keys) {
	if other == nil {
		return
	}
	for _, h := range other.hashes {
		k.add(h)
	}
	k.plaintext += other.plaintext
}

// Len is the number of distinct accepted keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.hashes)
}

// Plaintext is how many entries were given as plaintext keys rather than hashes.
func (k *Keys) Plaintext() int {
	if k == nil {
		return 0
	}
	return k.plaintext
}

// Valid reports whether key is one of the set. It compares the key's hash
// with every stored hash in constant time, so its timing tells nothing about
// which key, or how much of one, matched.
func (k *Keys) Valid(key string) bool {
	if k == nil || key == "" {
		return false
	}
	h := sha256.Sum256([]byte(key))
	found := 0
	for i := range k.hashes {
		found |= subtle.ConstantTimeCompare(h[:], k.hashes[i][:])
	}
	return found == 1
}
