// This file connects the Tron to RabbitMQ through internal/amqpbus.

package tron

import (
	"context"
	"errors"

	"github.com/funcatron/funcatron/internal/bus"
)

// connect returns the bus to use and how to close it (nil for a bus given in Options).
func (t *Tron) connect(ctx context.Context) (bus.Bus, func() error, error) {
	if t.opts.Bus != nil {
		return t.opts.Bus, nil, nil
	}
	return nil, nil, errors.New("connecting to RabbitMQ: not wired yet")
}
