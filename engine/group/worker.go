package group

import (
	"context"
	"errors"
	"time"

	"github.com/lmx-app/lmx/metal"
)

// Work runs a follower rank until ctx ends: it joins the group (waiting
// for every rank), follows its leader, and when the leader closes the group
// or a rank is lost, forgets the group and joins again, so that a group
// forms anew when the missing process returns. logf reports each change.
// The backend's configuration must be in place (UseBackend). Joining and a
// leader's silence block without a bound: the caller ends the process.
func Work(ctx context.Context, backend string, resolve Resolve, logf func(format string, args ...any)) error {
	for ctx.Err() == nil {
		g, err := metal.DistInit(backend)
		if err != nil {
			return err
		}
		logf("joined the group as rank %d of %d", g.Rank(), g.Size())
		err = Follow(ctx, g, resolve)
		switch {
		case errors.Is(err, ErrLeaderGone):
			logf("the leader closed the group; waiting for it to form again")
		case err != nil:
			logf("the group failed: %v; waiting for it to form again", err)
		}
		_ = metal.Do(context.Background(), func() error {
			g.Free()
			return metal.DistReset()
		})
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return ctx.Err()
}
