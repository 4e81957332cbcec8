// Package servers starts the private servers both the tests and `make run` need: a RabbitMQ
// node (AMQP and STOMP), Redis and nginx with the repository's frontend, each on free
// loopback ports with its files in a directory of its own, waited for by polling until it
// answers, and stopped by its Stop or Close. It also finds free ports (FreePorts) and the
// repository (RepoRoot). It never imports testing: internal/testenv wraps it for tests
// (StartRabbitMQ(t) and the like), internal/stack uses it for the whole system.
package servers
