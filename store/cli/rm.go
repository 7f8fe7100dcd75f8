package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lmx-app/lmx/internal/cmdflag"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/library"
)

// RunRm implements "lmx rm REPO[@COMMIT]": it deletes a model (or one
// snapshot) from the hub cache, keeping blobs other snapshots use, and
// forgets it in the registry. It refuses while the app runs, since the
// model may be loaded.
func RunRm(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	fs := cmdflag.New("rm", "rm [--data-dir DIR] [--hub-cache DIR] mlx-community/NAME[@COMMIT]", stderr)
	c.register(fs)
	pos, err := cmdflag.Parse(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	freed, err := remove(c, pos[0])
	if err != nil {
		return fail(stderr, "rm", err)
	}
	fmt.Fprintf(stdout, "deleted %s, freed %s\n", pos[0], humanBytes(freed))
	return 0
}

// remove deletes name (repo or repo@commit) and its registry record.
func remove(c common, name string) (int64, error) {
	db, err := c.openStore()
	if err != nil {
		return 0, err
	}
	defer db.Close()
	settings, err := db.Settings()
	if err != nil {
		return 0, err
	}
	cache, err := c.cache(settings)
	if err != nil {
		return 0, err
	}
	repo, commit, one := strings.Cut(name, "@")
	if err := library.ValidateRepoID(repo); err != nil {
		return 0, fmt.Errorf("lmx rm deletes models of the Hugging Face cache by repo id (org/name); delete plain folders yourself: %w", err)
	}
	var freed int64
	if one {
		freed, err = cache.DeleteSnapshot(repo, commit)
	} else {
		freed, err = cache.DeleteRepo(repo)
	}
	if err != nil {
		return 0, err
	}
	if _, ferr := cache.Find(repo); ferr != nil {
		if err := db.DeleteModel(repo); err != nil && !errors.Is(err, store.ErrNotFound) {
			return freed, err
		}
	}
	return freed, nil
}
