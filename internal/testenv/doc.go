// Package testenv starts real servers for tests: a private RabbitMQ node (AMQP and STOMP),
// Redis and nginx, each on free loopback ports in a temp dir, waited for by polling and
// stopped in cleanup. A server that cannot be started fails the test: nothing here skips.
package testenv
