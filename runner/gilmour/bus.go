// The Redis connection of an instance.

package gilmour

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of Redis commands: short, so a lost Redis is a 503 at once, not a hang.
const (
	dialTimeout = 2 * time.Second
	ioTimeout   = 3 * time.Second
)

// dialBus connects to the Redis at rawURL and checks it answers. The error names the
// server (host and port, never the password).
func dialBus(ctx context.Context, rawURL string) (*redis.Client, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("the gilmour redis URL does not parse: %v", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = dialTimeout, ioTimeout, ioTimeout
	// No retries: a PUBLISH sent twice would be a request run twice.
	opt.MaxRetries = -1
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(ctx, 2*dialTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("the Gilmour Redis at %s is unreachable: %v", opt.Addr, err)
	}
	return rdb, nil
}
