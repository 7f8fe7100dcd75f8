package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reset describes a damaged database that Open set aside before starting
// with a fresh one: the damaged file is kept at Kept for inspection or
// recovery by hand. Settings, the download records, chats and stored
// responses that were in it are gone; installed models are found again by
// scanning the model folders.
type Reset struct {
	// Time is when the damage was found.
	Time time.Time `json:"time"`
	// Kept is the path the damaged file was moved to (lmx.db.damaged-<time>).
	Kept string `json:"kept"`
	// Reason is what was wrong with the file.
	Reason string `json:"reason"`
}

// Message is the one sentence the UI and the log show about r.
func (r *Reset) Message() string {
	return fmt.Sprintf("The settings database was damaged (%s) and has been reset: settings, chats and download history start fresh; installed models are found again by scanning. The damaged file is kept at %s.", r.Reason, r.Kept)
}

// errDamaged marks a database file that cannot be used as it is; Open sets
// such a file aside.
var errDamaged = errors.New("database file is damaged")

// damagedSuffix names the kept copy of a damaged database: lmx.db.damaged-<time>.
const damagedSuffix = ".damaged-"

// openBolt opens the bbolt file at path and checks it: the consistency check
// of every page and a read of every key of every bucket, so that a damaged
// page is found here rather than by a later request. Damage of any kind
// (including a panic inside bbolt, which a bad freelist page causes) is
// returned wrapped in errDamaged; ErrAlreadyRunning and I/O errors such as a
// permission error are returned as they are.
func openBolt(path string) (b *bolt.DB, err error) {
	if info, statErr := os.Stat(path); statErr == nil && info.Mode().IsRegular() && info.Size() == 0 {
		// bbolt would silently initialise it; an empty lmx.db is one whose
		// contents were lost (a crash while creating it, a truncation).
		return nil, fmt.Errorf("%w: the file is empty", errDamaged)
	}
	defer func() {
		if v := recover(); v != nil {
			log.Printf("store: bbolt panicked opening %s: %v\n%s", path, v, debug.Stack())
			if b != nil {
				_ = b.Close()
			}
			b, err = nil, fmt.Errorf("%w: %v", errDamaged, v)
		}
	}()
	// A fault reading a page mapped beyond the file's end is turned into a
	// panic (recovered above) instead of ending the process.
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	b, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: OpenTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrAlreadyRunning)
	}
	if err != nil {
		if isDamage(err) {
			return nil, fmt.Errorf("%w: %v", errDamaged, err)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkBolt(b); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("%w: %v", errDamaged, err)
	}
	return b, nil
}

// isDamage reports whether bbolt's error from Open means the file's contents
// are bad (as opposed to the file being unreadable or locked).
func isDamage(err error) bool {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrVersionMismatch) ||
		errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrInvalidMapping) ||
		strings.Contains(err.Error(), "file size too small")
}

// checkBolt reads every key and value of every bucket (nested ones too),
// requiring each record of a current-schema file to be JSON (bbolt keeps no
// checksum of values, so a damaged value page is found only this way), then
// runs bbolt's page consistency check; the first problem is returned.
func checkBolt(b *bolt.DB) error {
	err := b.View(func(tx *bolt.Tx) error {
		envelopes := false
		if meta := tx.Bucket(bucketMeta); meta != nil {
			v, err := schemaOf(meta)
			if err != nil {
				return err
			}
			envelopes = v >= 2
		}
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			wantJSON := envelopes && string(name) != string(bucketMeta)
			if err := walkBucket(bk, wantJSON); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return b.View(func(tx *bolt.Tx) error {
		var first error
		// Read every error so the checking goroutine ends.
		for cerr := range tx.Check() {
			if first == nil {
				first = fmt.Errorf("consistency check: %w", cerr)
			}
		}
		return first
	})
}

// walkBucket reads every key and value of bk and its nested buckets; with
// wantJSON every value must be valid JSON.
func walkBucket(bk *bolt.Bucket, wantJSON bool) error {
	return bk.ForEach(func(k, v []byte) error {
		if v == nil {
			if nested := bk.Bucket(k); nested != nil {
				return walkBucket(nested, wantJSON)
			}
			return nil
		}
		if wantJSON && !json.Valid(v) {
			return fmt.Errorf("record %q is not readable", k)
		}
		return nil
	})
}

// setAside moves the damaged file at path to path.damaged-<time> and returns
// the new path; it never overwrites an earlier kept copy.
func setAside(path string, now time.Time) (string, error) {
	stamp := now.UTC().Format("20060102-150405")
	kept := path + damagedSuffix + stamp
	for i := 2; ; i++ {
		if _, err := os.Lstat(kept); errors.Is(err, fs.ErrNotExist) {
			break
		}
		kept = fmt.Sprintf("%s%s%s-%d", path, damagedSuffix, stamp, i)
	}
	if err := os.Rename(path, kept); err != nil {
		return "", fmt.Errorf("keep damaged database: %w", err)
	}
	return kept, nil
}
