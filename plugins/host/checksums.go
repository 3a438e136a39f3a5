package host

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaosctl/chaosctl/internal/fsperm"
)

// Sentinel errors of third-party plugin checks.
var (
	ErrChecksumMismatch = errors.New("plugin checksum mismatch")
	ErrNoChecksum       = errors.New("plugin has no configured checksum")
	ErrUnsafePlugin     = errors.New("plugin file or checksums writable by others")
)

// readChecksums parses a file in `sha256sum` format: "<hex>  <file>" per
// line (a '*' before the file name, binary mode, is accepted). Only the
// base name of each file counts. Blank lines and '#' comments are skipped.
func readChecksums(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		b, herr := hex.DecodeString(sum)
		if !ok || name == "" || herr != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: want \"<sha256 hex>  <file name>\" (sha256sum output)", path, n)
		}
		out[filepath.Base(name)] = strings.ToLower(sum)
	}
	return out, sc.Err()
}

// fileSHA256 is the hex sha256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verify checks the plugin at path against the checksums file and returns
// its sum. The refusal names the file, the expected and the actual sum.
func verify(path, checksums string) (string, error) {
	// A checksum proves nothing about a file someone else can swap between
	// the check and the exec: the plugin, its directory and the checksums
	// file must be writable by their owner only, and owned by root or by
	// the user chaosctl runs as (ssh's StrictModes rule).
	for _, p := range []string{path, filepath.Dir(path), checksums, filepath.Dir(checksums)} {
		if err := fsperm.Check(p); err != nil {
			return "", fmt.Errorf("%w: refusing to run %s: %w", ErrUnsafePlugin, path, err)
		}
	}
	actual, err := fileSHA256(path)
	if err != nil {
		return "", fmt.Errorf("read plugin %s: %w", path, err)
	}
	base := filepath.Base(path)
	sums, err := readChecksums(checksums)
	if errors.Is(err, os.ErrNotExist) {
		return actual, fmt.Errorf("%w: refusing to run %s: checksums file %s does not exist (add the line \"%s  %s\" to it)",
			ErrNoChecksum, path, checksums, actual, base)
	}
	if err != nil {
		return actual, fmt.Errorf("refusing to run %s: %w", path, err)
	}
	want, ok := sums[base]
	if !ok {
		return actual, fmt.Errorf("%w: refusing to run %s: %s lists no sha256 for %s (its sha256 is %s)",
			ErrNoChecksum, path, checksums, base, actual)
	}
	if want != actual {
		return actual, fmt.Errorf("%w: refusing to run %s: sha256 is %s, %s expects %s",
			ErrChecksumMismatch, path, actual, checksums, want)
	}
	return actual, nil
}
