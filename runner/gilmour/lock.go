// Exclusion groups: exactly one handler per message and group (research §1.5).

package gilmour

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// lockSeconds is the life of a lock key, as in both Gilmour libraries.
const lockSeconds = 600

// acquireLock takes the group lock of one message the way the Go and Ruby libraries do,
// byte for byte (SET <sender><group> <sender><group> NX EX 600), so that runners and other
// Gilmour processes in the same group exclude each other. Only the winner handles the
// message.
func acquireLock(ctx context.Context, rdb *redis.Client, sender, group string) (bool, error) {
	key := sender + group
	err := rdb.Do(ctx, "SET", key, key, "NX", "EX", lockSeconds).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	}
	return false, err
}

// implicitGroup is the group of a slot the manifest gives none: one per bundle, so that a
// signal runs once per bundle, not once per runner serving it.
func implicitGroup(sha string) string { return "funcatron.bundle." + sha }
